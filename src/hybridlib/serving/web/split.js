// hybridlib split execution page: head in TF.js (wasm) → POST /split/<layer> → tail on the server.
//
// Driven from Python (hybridlib.study.split.execute.execute) through window.hlSplit:
//   await hlSplit.init('wasm')                    backend (recorded with every timing)
//   await hlSplit.loadHead(key, url)              only the head this cut needs
//   hlSplit.setInput(b64, shape)                  little-endian float32 input tensor
//   await hlSplit.step({head, layer, dtype, codec, mode})   one inference across the cut
//   await hlSplit.stepExit({head, layer, threshold, dtype, codec})   early exit (edge model: [exit1, code])
// mode: 'split' (head here, tail on the server), 'cloud' (upload the input), 'device' (no request).
//
// The encoder and timing reader live in ./wire.js (shared with the app's split mode).
// Wire contract (docs/ARCHITECTURE.md, Serving contract): raw little-endian tensor bytes, headers X-Shape, X-Dtype
// float32|float16|uint8 (uint8 adds X-Scale, X-Zero-Point: q = round(x/scale) + zero_point),
// X-Codec none|zlib (zlib = CompressionStream('deflate'), RFC 1950). Stage times come from
// performance.now() and the fetch's Resource Timing entry.

import {argmax, compress, encode, entropy, timingOf} from "./wire.js";

const S = (window.hlSplit = {
  ready: false, error: null, backend: null, heads: {}, input: null, inputShape: null, inputTensor: null, seq: 0,
});

S.init = async function (backend = "wasm") {
  if (backend === "wasm") tf.wasm.setWasmPaths("/vendor/tfjs-backend-wasm/");
  const ok = await tf.setBackend(backend);
  await tf.ready();
  if (!ok || tf.getBackend() !== backend) throw new Error(`TF.js backend ${backend} unavailable`);
  performance.setResourceTimingBufferSize(100000);
  S.backend = tf.getBackend();
  S.ready = true;
  return {backend: S.backend, tfjs: tf.version.tfjs};
};

// One request with retries (TF.js's fetchFunc): Chromium aborts in-flight fetches with
// net::ERR_NETWORK_CHANGED ("Failed to fetch") whenever a network interface appears or goes
// (other jobs' netns/veth pairs on a shared box); a big head (AlexNet, 15 shards) would
// otherwise lose a shard. Retry the failed request alone (body included), with backoff;
// count the retries.
S.fetchRetries = 0;
async function retryingFetch(url, init) {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await fetch(url, init);
      if (r.ok || r.status < 500 || attempt >= 8) {
        // read the body now: TF.js awaits all shards' headers before reading any body, and
        // with > 6 big shards the unread bodies hold all 6 HTTP/1.1 connections (a hang)
        const body = await r.arrayBuffer();
        return new Response(body, {status: r.status, statusText: r.statusText, headers: r.headers});
      }
    } catch (e) { if (attempt >= 8) throw e; }
    S.fetchRetries++;
    await new Promise((res) => setTimeout(res, Math.min(4000, 250 * 2 ** attempt)));
  }
}

S.loadHead = async function (key, url) {
  const t0 = performance.now();
  const retries0 = S.fetchRetries;
  const m = await tf.loadLayersModel(url, {fetchFunc: retryingFetch});
  const load_ms = performance.now() - t0;
  S.heads[key] = m;
  // bytes really fetched for this head (model.json + shards), from Resource Timing
  const base = new URL(url, location.href).href.replace(/model\.json$/, "");
  const bytes = performance.getEntriesByType("resource").filter((e) => e.name.startsWith(base))
    .reduce((a, e) => a + (e.encodedBodySize || e.transferSize || 0), 0);
  return {load_ms, bytes, retries: S.fetchRetries - retries0, inputs: m.inputs.map((i) => i.shape),
          outputs: m.outputs.map((o) => o.shape)};
};

S.unloadHead = function (key) {
  if (S.heads[key]) { S.heads[key].dispose(); delete S.heads[key]; }
};

S.setInput = function (b64, shape) {
  const bin = atob(b64);
  const u8 = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
  S.input = new Float32Array(u8.buffer);
  S.inputShape = shape;
  if (S.inputTensor) S.inputTensor.dispose();
  S.inputTensor = tf.tensor(S.input, shape, "float32");
  return S.input.length;
};

// ----------------------------------------------------------------------------- one inference

// encode → POST /split/<layer> → the server's answer; fills the row's wire and stage fields.
// t1: when the tensor was ready (encode starts). Returns when the answer was decoded (the
// total's end: the Resource Timing read after it is bookkeeping). Shared by step and stepExit.
async function ship(o, data, shape, row, t1) {
  const enc = encode(data, o.dtype || "float32");
  const body = await compress(enc.bytes, o.codec || "none");
  const t2 = performance.now();
  row.encode_ms = t2 - t1;
  row.up_bytes = body.byteLength;
  const url = `${location.origin}/split/${encodeURIComponent(o.layer)}?seq=${++S.seq}`;
  const headers = {"Content-Type": "application/octet-stream", "X-Shape": shape.join(","),
                   "X-Dtype": o.dtype || "float32", "X-Codec": o.codec || "none", ...enc.headers};
  // the header values the format needs (what hybridlib.study.early_exit.converter.ship counts beside the body)
  row.header_bytes = ["X-Shape", "X-Scale", "X-Zero-Point"].reduce((a, k) => a + (k in headers ? String(headers[k]).length : 0), 0);
  const resp = await fetch(url, {method: "POST", body, headers, cache: "no-store"});
  const buf = await resp.arrayBuffer();
  const t3 = performance.now();
  const ans = JSON.parse(new TextDecoder().decode(buf));
  const t4 = performance.now();
  if (!resp.ok) throw new Error(`/split/${o.layer} → ${resp.status}: ${ans.error || ""}`);
  row.fetch_ms = t3 - t2;
  row.decode_ms = t4 - t3;
  row.tail_ms = ans.server_ms;
  row.down_bytes = buf.byteLength;
  const rt = await timingOf(url);
  if (rt && rt.responseStart > 0 && rt.requestStart > 0) {
    row.upload_ms = rt.responseStart - rt.requestStart - ans.server_ms;
    row.download_ms = rt.responseEnd - rt.responseStart;
    row.queue_ms = rt.requestStart - t2; // fetch() call → request sent (connection reuse, scheduling)
    row.timing = "resource";
  } else { // no entry: attribute the fetch time minus the server's share to the upload
    row.upload_ms = row.fetch_ms - ans.server_ms;
    row.download_ms = 0;
    row.timing = "fetch";
  }
  row.probs = ans.probs;
  row.emotion = ans.emotion;
  row.top1 = ans.top1 !== undefined ? ans.top1 : null;
  row.layer = ans.layer;
  return t4;
}

S.step = async function (o) {
  const mode = o.mode || "split";
  const t0 = performance.now();
  let data, shape;
  if (mode === "cloud") {
    data = S.input; shape = S.inputShape;
  } else {
    const m = S.heads[o.head];
    if (!m) throw new Error(`head ${o.head} not loaded`);
    const y = m.predict(S.inputTensor);
    data = await y.data();
    shape = y.shape;
    y.dispose();
  }
  const t1 = performance.now();
  const row = {mode, backend: tf.getBackend(), head_ms: mode === "cloud" ? 0 : t1 - t0, encode_ms: 0, upload_ms: 0,
               tail_ms: 0, download_ms: 0, decode_ms: 0, up_bytes: 0, down_bytes: 0, fetch_ms: 0};
  if (mode === "device") {
    row.total_ms = performance.now() - t0;
    row.probs = Array.from(data);
    row.top1 = argmax(data);
    return row;
  }
  row.total_ms = (await ship(o, data, shape, row, t1)) - t0;
  return row;
};

S.entropy = (p) => entropy(Float32Array.from(p));

// Early exit (hybridlib.study.early_exit.execute): the edge model gives [exit1 softmax, converter code]
// for the one input set by setInput; the input exits iff entropy < o.threshold (the library's
// rule), else the code goes up as o.dtype + o.codec to /split/<o.layer> (restore + tail there).
// o.return_code: also return the pre-quantisation code (base64 float32) for parity checks.
S.stepExit = async function (o) {
  const m = S.heads[o.head];
  if (!m) throw new Error(`edge model ${o.head} not loaded`);
  const t0 = performance.now();
  const [py, cy] = m.predict(S.inputTensor);
  const p = await py.data(), code = await cy.data();
  const codeShape = cy.shape;
  py.dispose(); cy.dispose();
  const h = entropy(p);
  const exited = h < o.threshold;
  const t1 = performance.now();
  const row = {mode: "exit", backend: tf.getBackend(), head_ms: t1 - t0, encode_ms: 0, upload_ms: 0, tail_ms: 0,
               download_ms: 0, decode_ms: 0, up_bytes: 0, header_bytes: 0, down_bytes: 0, fetch_ms: 0, exited, entropy: h,
               threshold: o.threshold, branch_probs: Array.from(p), code_shape: codeShape};
  if (o.return_code) row.code_b64 = f32ToB64(code);
  if (exited) {
    row.total_ms = t1 - t0;
    row.probs = Array.from(p);
    row.top1 = argmax(p);
    return row;
  }
  row.total_ms = (await ship(o, code, codeShape, row, t1)) - t0;
  if (row.top1 === null && row.probs) row.top1 = argmax(Array.isArray(row.probs) ? row.probs : Object.values(row.probs));
  return row;
};

function f32ToB64(f32) {
  const u8 = new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength);
  let s = "";
  for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
  return btoa(s);
}

document.getElementById("log").textContent = "ready: call hlSplit.init()";
S.loaded = true;
