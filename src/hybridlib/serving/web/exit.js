// hybridlib app, exit mode (seed 004's early exit + converter; hybridlib.serving.exitmode).
//
// Per frame: detect faces → 48×48 crops → the edge model [exit1 softmax, converter code] here →
// each face's normalised entropy → faces with entropy < T answer here ("edge"); the codes of the
// others go up in one request as the wire codec's per-tensor uint8 + zlib (./wire.js) to
// POST /split/<cut>, where the server restores them and runs the tail ("cloud").
// The rule is the library's (hybridlib.study.early_exit.converter.operating_curve): exit iff H < T.
// T comes from the server's bundle (GET /config → exit.threshold); ?exit_threshold=T overrides it.
//
// hlState.exit: {threshold, cut, inputs, exited, shipped, bytes_up, last: {decision, entropy,
// exited, up_bytes, edge_ms, encode_ms, upload_ms, tail_ms, download_ms, total_ms}}.

import {compress, encode, entropy, timingOf} from "./wire.js";

export async function runExit(video, ui) {
  const {state, $, cfg, tf} = ui;
  const ex = cfg.exit;
  if (!ex) return ui.fail("model", "Exit mode: the server sent no exit configuration.");
  const q = new URLSearchParams(location.search).get("exit_threshold");
  const T = q !== null && q !== "" && isFinite(Number(q)) && Number(q) >= 0 && Number(q) <= 1 ? Number(q) : ex.threshold;
  state.exit = {threshold: T, cut: ex.cut, channels: ex.channels, rule: ex.rule, inputs: 0, exited: 0, shipped: 0,
                bytes_up: 0, requests: 0, last: null};
  $("exit-T").textContent = T.toFixed(3) + (T !== ex.threshold ? " (yours)" : "");
  ui.setMessage("Loading the edge model…");
  let edge;
  try {
    edge = await tf.loadLayersModel(ex.edge_url);
    const ys = edge.predict(tf.zeros([1, 48, 48, 1]));
    for (const y of ys) { await y.data(); y.dispose(); }
  } catch (e) {
    return ui.fail("model", `The edge model failed to load: ${e.message || e}`);
  }
  performance.setResourceTimingBufferSize(100000);
  state.ready = true;
  ui.setMessage("");
  for (;;) {
    const t0 = performance.now();
    let dets = [];
    try { dets = await faceapi.detectAllFaces(video, ui.detectorOpts); } catch (e) { console.warn("detect failed", e); }
    const t1 = performance.now();
    let faces = [], row = null;
    if (dets.length) {
      try { ({faces, row} = await infer(video, dets, edge, T, ex, ui)); }
      catch (e) { ui.setMessage(`Early-exit inference failed: ${e.message || e}`, "warn"); }
    }
    const t2 = performance.now();
    ui.draw(video, faces);
    ui.showResult(faces);
    if (row) show(row, state, $, ui.fmt);
    ui.showStages({detect: t1 - t0, crop: row ? row.crop_ms : 0, cnn: row ? t2 - t1 - row.crop_ms : 0, total: t2 - t0,
                   backend: state.backend});
    if (faces.length && state.first_prediction_ms == null) state.first_prediction_ms = performance.now();
    ui.tickFps();
    if (!state.modelError && !state.cameraError && (faces.length || !dets.length))
      ui.setMessage(faces.length ? "" : "No face found: look at the camera.", faces.length ? "info" : "warn");
    await new Promise((r) => requestAnimationFrame(r));
  }
}

async function infer(video, dets, edge, T, ex, ui) {
  const t0 = performance.now();
  const {boxes, input} = ui.cropInput(video, dets);
  const t1 = performance.now();
  const [py, cy] = edge.predict(input);
  const p = await py.data(), code = await cy.data();
  const codeShape = cy.shape.slice(1);
  tf_dispose([input, py, cy]);
  const t2 = performance.now();
  const n = boxes.length, K = p.length / n, per = code.length / n;
  const H = [], exited = [];
  for (let i = 0; i < n; i++) { H.push(entropy(p.subarray(i * K, (i + 1) * K))); exited.push(H[i] < T); }
  const names = ui.classNames();
  const probs = new Array(n);
  for (let i = 0; i < n; i++) if (exited[i]) probs[i] = Object.fromEntries(names.map((c, k) => [c, p[i * K + k]]));
  const row = {crop_ms: t1 - t0, edge_ms: t2 - t1, encode_ms: 0, upload_ms: 0, tail_ms: 0, download_ms: 0, up_bytes: 0,
               entropy: H, exited, faces: n};
  const ship = [...Array(n).keys()].filter((i) => !exited[i]);
  if (ship.length) {
    const codes = new Float32Array(ship.length * per);
    ship.forEach((i, j) => codes.set(code.subarray(i * per, (i + 1) * per), j * per));
    const enc = encode(codes, ex.dtype || "uint8");
    const body = await compress(enc.bytes, ex.codec || "zlib");
    const t3 = performance.now();
    row.encode_ms = t3 - t2;
    row.up_bytes = body.byteLength;
    const url = `${location.origin}/split/${encodeURIComponent(ex.cut)}?seq=${++ui.state.exit.requests}`;
    const resp = await fetch(url, {method: "POST", body, cache: "no-store", headers: {"Content-Type": "application/octet-stream",
      "X-Shape": [ship.length, ...codeShape].join(","), "X-Dtype": ex.dtype || "uint8", "X-Codec": ex.codec || "zlib",
      ...enc.headers}});
    const ans = await resp.json();
    const t4 = performance.now();
    if (!resp.ok) throw new Error(`/split/${ex.cut} → ${resp.status}: ${ans.error || ""}`);
    row.tail_ms = ans.server_ms;
    const rt = await timingOf(url);
    if (rt && rt.responseStart > 0 && rt.requestStart > 0) {
      row.upload_ms = rt.responseStart - rt.requestStart - ans.server_ms;
      row.download_ms = rt.responseEnd - rt.responseStart;
    } else { row.upload_ms = t4 - t3 - ans.server_ms; }
    const all = ans.batch || [ans];
    ship.forEach((i, j) => { probs[i] = all[j].probs; });
    row.layer = ans.layer;
  }
  row.total_ms = performance.now() - t0;
  const faces = boxes.map((b, i) => {
    const pr = probs[i];
    const best = names.reduce((a, c) => (pr[c] > pr[a] ? c : a), names[0]);
    return {box: b.map((v) => Math.round(v)), emotion: best, probs: pr, score: dets[i].score, exited: exited[i], entropy: H[i]};
  });
  return {faces, row};
}

function tf_dispose(ts) { for (const t of ts) t.dispose(); }

function show(row, state, $, fmt) {
  const ex = state.exit;
  const k = row.exited.filter(Boolean).length;
  ex.inputs += row.faces;
  ex.exited += k;
  ex.shipped += row.faces - k;
  ex.bytes_up += row.up_bytes;
  row.decision = k === row.faces ? "edge" : k === 0 ? "cloud" : "mixed";
  ex.last = row;
  $("exit-decision").textContent = row.decision === "edge" ? "answered here (confident)"
    : row.decision === "cloud" ? "sent to the server" : `${k} of ${row.faces} answered here`;
  $("exit-H").textContent = row.entropy.map((h) => h.toFixed(3)).join(", ");
  for (const s of ["edge", "encode", "upload", "tail", "download"]) $(`ms-x-${s}`).textContent = fmt(row[`${s}_ms`]);
  $("exit-bytes").textContent = `${row.up_bytes} B`;
  $("exit-share").textContent = `${(100 * ex.exited / Math.max(ex.inputs, 1)).toFixed(0)}% of ${ex.inputs} · ` +
    `${(ex.bytes_up / Math.max(ex.inputs, 1)).toFixed(0)} B/face up`;
}
