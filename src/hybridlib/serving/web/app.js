// hybridlib emotion app: camera → face box → 48×48 gray crop → CNN → overlay.
//
// hybrid mode: everything runs here, in TF.js (face-api's bundled TF.js 4.22, wasm backend
//   by default: in headless Chromium webgl is software-rendered and ~15× slower).
// cloud mode: ./cloud.js streams the camera over WebRTC; we draw the server's results.
// split mode: the CNN's head runs here, its tail on the server (POST /split/<cut>, ./wire.js);
//   the page probes the link, asks POST /plan for the cut, re-plans when the link moves by
//   more than REPLAN_MARGIN, and the #cut select overrides the plan.
// exit mode: ./exit.js runs the early-exit edge model here and ships only unconfident faces' codes.
//
// window.hlState mirrors what is on screen (faces, label, timings, messages) so tests and
// notebooks can read it without scraping the DOM. URL parameters: ?variant=uint8
// &backend=wasm|webgl|cpu &input=224 (detector input size) &threshold=0.5
// &track=0 (hybrid mode: detect on every frame instead of ./track.js' detect-every-k + tracking;
// &k=N fixes its k, &verify=1 checks tracked frames against the every-frame pipeline)
// &binary=auto|simd|threaded-simd|plain (which TF.js wasm binary; auto = TF.js' own choice)
// &eager=0 (the old serial start-up, for side-by-side timings).
//
// Start-up (hybrid): the first prediction waits on CPU more than on bytes (face-api's script,
// the wasm compile, the detector's and the CNN's first runs), so nothing waits in line: the
// server writes the mode into the html, the detector's script starts before /config answers,
// the wasm binary, the detector's weights and the CNN (model.json + shards, handed to TF.js from
// memory) download while the script runs, and the detector and the CNN load side by side.

import { runTracked } from "./track.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const state = (window.hlState = {
  ready: false, mode: null, variant: null, backend: null, faces: [], label: null,
  frames: 0, fps: 0, stages: {}, rtt_ms: null, message: "", messageKind: "info",
  error: null, modelError: null, cameraError: null, ttfp_ms: {}, video: null,
  first_prediction_ms: null, // ms from navigation start to the first frame with a classified face
  wasm: null, // {simd, multithread, threads, binary, isolated} when the backend is wasm
  timeline: {}, // ms since navigation start at each start-up step (where the first prediction's time goes)
});
const mark = (step) => { state.timeline[step] = Math.round(performance.now()); };
mark("script");
const EAGER = params.get("eager") !== "0";
const WASM_DIR = "/vendor/tfjs-backend-wasm/";
const DETECTOR_DIR = "/vendor/face-api-model/";

function setMessage(text, kind = "info") {
  // a camera or model error stays on screen: hybrid mode loads its models while the camera
  // opens, so a later progress message must not hide an earlier failure
  if ((state.cameraError || state.modelError) && kind !== "error") return;
  const m = $("message");
  m.textContent = text || "";
  m.dataset.kind = text ? kind : "hidden";
  state.message = text || "";
  state.messageKind = kind;
  if (kind === "error") state.error = text;
}

const fmt = (ms) => (ms == null || !isFinite(ms) ? "–" : ms < 10 ? ms.toFixed(1) + " ms" : Math.round(ms) + " ms");

// ---------------------------------------------------------------------------- overlay

let classNames = [];
function buildBars(names) {
  classNames = names;
  const ul = $("bars");
  ul.innerHTML = "";
  for (const n of names) {
    const li = document.createElement("li");
    li.dataset.cls = n;
    li.innerHTML = `<span class="name">${n}</span><span class="track"><span class="fill"></span></span><span class="pct">–</span>`;
    ul.appendChild(li);
  }
}

function showResult(faces) {
  // faces: [{box: [x, y, w, h], emotion, probs: {cls: p}}] in video pixels
  state.faces = faces;
  const main = faces.length ? faces.reduce((a, b) => (a.box[2] * a.box[3] >= b.box[2] * b.box[3] ? a : b)) : null;
  const em = $("emotion");
  if (!main) {
    state.label = null;
    em.textContent = "no face";
    em.classList.add("none");
    $("confidence").textContent = "Look at the camera, face lit from the front.";
  } else {
    state.label = main.emotion;
    em.textContent = main.emotion;
    em.classList.remove("none");
    const p = main.probs[main.emotion];
    $("confidence").textContent = `${(100 * p).toFixed(0)}% sure · ${faces.length} face${faces.length > 1 ? "s" : ""}`;
  }
  for (const li of $("bars").children) {
    const p = main ? main.probs[li.dataset.cls] || 0 : 0;
    li.querySelector(".fill").style.transform = `scaleX(${p.toFixed(3)})`;
    li.querySelector(".pct").textContent = main ? `${(100 * p).toFixed(0)}%` : "–";
    li.classList.toggle("top", !!main && li.dataset.cls === main.emotion);
  }
}

function draw(video, faces) {
  const c = $("canvas");
  const W = video.videoWidth, H = video.videoHeight;
  if (!W || !H) return;
  if (c.width !== W || c.height !== H) { c.width = W; c.height = H; }
  const g = c.getContext("2d");
  g.drawImage(video, 0, 0, W, H);
  const lw = Math.max(2, Math.round(W / 240));
  g.font = `600 ${Math.max(14, Math.round(W / 32))}px system-ui, sans-serif`;
  for (const f of faces) {
    const [x, y, w, h] = f.box;
    g.strokeStyle = "#38bdf8";
    g.lineWidth = lw;
    g.strokeRect(x, y, w, h);
    const text = `${f.emotion} ${(100 * f.probs[f.emotion]).toFixed(0)}%`;
    const tw = g.measureText(text).width + 12, th = Math.max(20, Math.round(W / 24));
    const ty = y - th - 2 >= 0 ? y - th - 2 : y + h + 2;
    g.fillStyle = "rgba(15,23,42,.85)";
    g.fillRect(x, ty, tw, th);
    g.fillStyle = "#e2e8f0";
    g.fillText(text, x + 6, ty + th * 0.75);
  }
}

let lastTick = 0, fpsEma = 0;
function tickFps() {
  const now = performance.now();
  if (lastTick) {
    const inst = 1000 / (now - lastTick);
    fpsEma = fpsEma ? 0.85 * fpsEma + 0.15 * inst : inst;
  }
  lastTick = now;
  state.frames += 1;
  state.fps = fpsEma;
  $("fps").textContent = fpsEma ? fpsEma.toFixed(1) : "–";
}

function showStages(st) {
  state.stages = st;
  // running sums, so benchmarks read mean stage ms over a window without sampling every frame
  const tot = (state.totals ||= { n: 0 });
  tot.n += 1;
  for (const k of ["detect", "track", "crop", "cnn", "total", "draw", "gap"]) tot[k] = (tot[k] || 0) + (st[k] || 0);
  tot.at = performance.now();
  // tracked pipeline: the detector's ms and how often it runs (every k frames)
  $("ms-detect").textContent = st.detect_every != null ? `${fmt(st.detect_every)} ÷ ${st.k}` : fmt(st.detect);
  $("ms-crop").textContent = fmt(st.crop);
  $("ms-cnn").textContent = fmt(st.cnn);
  $("ms-total").textContent = fmt(st.total);
  $("ms-track").textContent = fmt(st.track);
}

// ---------------------------------------------------------------------------- camera

async function openCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return fail("camera", "This browser gives no camera access here (open the page via http://127.0.0.1 or https).");
  }
  try {
    return await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  } catch (e) {
    const n = e && e.name;
    if (n === "NotAllowedError" || n === "SecurityError" || n === "PermissionDeniedError")
      return fail("camera", "Camera access was denied. Allow the camera for this page and reload.");
    if (n === "NotFoundError" || n === "DevicesNotFoundError" || n === "OverconstrainedError")
      return fail("camera", "No camera found. Connect a camera and reload.");
    if (n === "NotReadableError" || n === "TrackStartError")
      return fail("camera", "The camera is in use by another application.");
    return fail("camera", `Could not open the camera (${n || e}).`);
  }
}

function fail(what, text) {
  if (what === "camera") state.cameraError = text;
  if (what === "model") state.modelError = text;
  setMessage(text, "error");
  return null;
}

async function startVideo(stream) {
  const v = $("video");
  v.srcObject = stream;
  await v.play().catch(() => {});
  while (!v.videoWidth) await new Promise((r) => setTimeout(r, 30));
  state.video = { width: v.videoWidth, height: v.videoHeight };
  return v;
}

// ---------------------------------------------------------------------------- hybrid

let tf = null, model = null, detectorOpts = null, cfg = null;

function wasmBinary() {
  // the binary this page will run, decided before TF.js loads (so it can be fetched early) by
  // TF.js' own rule: threaded SIMD where the page is isolated, else SIMD, else plain. (On this
  // 2-core box the threaded binary runs 1 thread; a forced SIMD binary started its backend
  // ~0.25 s sooner at ×4 but reached the first prediction no sooner: bench_browser.py --first.)
  const want = params.get("binary") || "auto";
  const simd = WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 10, 9, 1, 7, 0, 65, 0, 253, 15, 26, 11]));
  const mt = !!self.crossOriginIsolated && typeof SharedArrayBuffer !== "undefined";
  if (want === "plain" || !simd) return "plain";
  return (want === "auto" || want === "threaded-simd") && mt ? "threaded-simd" : "simd";
}
const WASM_FILE = { plain: "tfjs-backend-wasm.wasm", simd: "tfjs-backend-wasm-simd.wasm", "threaded-simd": "tfjs-backend-wasm-threaded-simd.wasm" };

function warm(url) {
  // download now into the HTTP cache (vendor files are cacheable), so TF.js' own request later
  // is served from it; errors surface when the real request fails
  return fetch(url).then((r) => r.arrayBuffer()).catch(() => null);
}

async function fetchModel(url) {
  // a TF.js layers model's files, all at once → ModelArtifacts for tf.io.fromMemory
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url} → HTTP ${r.status}`);
  const mj = await r.json();
  const base = url.slice(0, url.lastIndexOf("/") + 1);
  const groups = mj.weightsManifest || [];
  const parts = await Promise.all(groups.flatMap((g) => g.paths).map(async (p) => {
    const q = await fetch(base + p);
    if (!q.ok) throw new Error(`${base + p} → HTTP ${q.status}`);
    return new Uint8Array(await q.arrayBuffer());
  }));
  const weightData = new Uint8Array(parts.reduce((a, b) => a + b.length, 0));
  let o = 0;
  for (const b of parts) { weightData.set(b, o); o += b.length; }
  return { modelTopology: mj.modelTopology, weightSpecs: groups.flatMap((g) => g.weights), weightData: weightData.buffer,
    format: mj.format, generatedBy: mj.generatedBy, convertedBy: mj.convertedBy };
}

const early = {}; // downloads started before TF.js exists: {wasm, detector, model: {name: Promise}}
function startDownloads(variant) {
  if (!EAGER) return;
  early.wasm ||= warm(WASM_DIR + WASM_FILE[wasmBinary()]);
  early.detector ||= Promise.all(["tiny_face_detector_model-weights_manifest.json", "tiny_face_detector_model.bin"]
    .map((f) => warm(DETECTOR_DIR + f)));
  const v = variant && (cfg.variants || []).find((x) => x.name === variant);
  if (v) ((early.model ||= {})[v.name] ||= fetchModel(v.url)).catch(() => null);
}

async function setupBackend(pref) {
  if (tf.wasm && tf.wasm.setWasmPaths) tf.wasm.setWasmPaths(WASM_DIR);
  else if (tf.setWasmPaths) tf.setWasmPaths(WASM_DIR);
  const bin = wasmBinary();
  if (bin !== "threaded-simd") tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
  if (bin === "plain") tf.env().set("WASM_HAS_SIMD_SUPPORT", false);
  // Threads need a cross-origin isolated page (the server sends COOP/COEP) and must be set
  // before the backend starts; TF.js' default is cores ÷ 2, one thread on a 2-core machine.
  // ?threads=N overrides (1 = single-threaded, for side-by-side measurements).
  const want = Number(params.get("threads") || Math.min(navigator.hardwareConcurrency || 2, 4));
  // (face-api's bundle exports the wasm backend's functions on tf itself, not on tf.wasm)
  const setThreads = (tf.wasm && tf.wasm.setThreadsCount) || tf.setThreadsCount;
  if (self.crossOriginIsolated && setThreads) setThreads(Math.max(1, want));
  for (const b of [pref, "wasm", "webgl", "cpu"]) {
    try {
      if (b && (await tf.setBackend(b))) { await tf.ready(); break; }
    } catch (e) { console.warn("backend", b, "failed:", e); }
  }
  state.backend = tf.getBackend();
  mark("backend");
  if (state.backend === "wasm") state.wasm = await wasmInfo();
  $("backend").textContent = state.backend + (state.wasm ? ` · ${state.wasm.binary} · ${state.wasm.threads} thread${state.wasm.threads === 1 ? "" : "s"}` : "");
  return state.backend;
}

async function wasmInfo() {
  // what actually ran: the binary TF.js picked (from the browser's SIMD and thread support)
  // and how many threads it uses; the page is only isolated when the server sent COOP/COEP
  const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT");
  const mt = await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT");
  const getThreads = (tf.wasm && tf.wasm.getThreadsCount) || tf.getThreadsCount;
  const threads = mt && getThreads ? getThreads() : 1;
  const binary = mt && simd ? "threaded-simd" : simd ? "simd" : "plain";
  return { simd, multithread: mt, threads, binary, isolated: !!self.crossOriginIsolated };
}

async function loadVariant(name) {
  const v = (cfg.variants || []).find((x) => x.name === name);
  if (!v) return fail("model", `The model failed to load: no variant "${name}" on the server.`);
  const t0 = performance.now();
  setMessage(`Loading the ${name} model (${(v.bytes / 1e6).toFixed(1)} MB)…`);
  let m;
  try {
    const pre = early.model && early.model[name];
    const artifacts = pre && (await pre.catch(() => null));
    m = await tf.loadLayersModel(artifacts ? tf.io.fromMemory(artifacts) : v.url);
  } catch (e) {
    return fail("model", `The model failed to load (${name}): ${e.message || e}`);
  }
  const t1 = performance.now();
  const y = tf.tidy(() => m.predict(tf.zeros([1, 48, 48, 1])));
  await y.data();
  y.dispose();
  const t2 = performance.now();
  state.ttfp_ms[name] = { load_ms: t1 - t0, warmup_ms: t2 - t1, total_ms: t2 - t0, backend: tf.getBackend() };
  $("ttfp").textContent = `${fmt(t2 - t0)} (${name})`;
  if (model) model.dispose();
  model = m;
  state.variant = name;
  state.modelError = null;
  setMessage("");
  return m;
}

function cropInput(video, dets) {
  // 48×48 gray crops of the boxes (0.299R+0.587G+0.114B, rounded like uint8, /255): N×48×48×1
  const W = video.videoWidth, H = video.videoHeight;
  const boxes = dets.map((d) => {
    const x0 = Math.max(0, d.box.x), y0 = Math.max(0, d.box.y);
    const x1 = Math.min(W, d.box.x + d.box.width), y1 = Math.min(H, d.box.y + d.box.height);
    return [x0, y0, x1 - x0, y1 - y0];
  });
  const input = tf.tidy(() => {
    // crop+resize the RGB frame first (bilinear and the gray weights are both linear, so the
    // order does not matter) — 48×48 pixels get the gray conversion, not the whole frame
    const img = tf.browser.fromPixels(video).toFloat().expandDims(0);
    const norm = boxes.map(([x, y, w, h]) => [y / H, x / W, (y + h) / H, (x + w) / W]);
    const rgb = tf.image.cropAndResize(img, norm, boxes.map(() => 0), [48, 48], "bilinear");
    return rgb.mul(tf.tensor1d([0.299, 0.587, 0.114])).sum(-1, true).round().div(255);
  });
  return { boxes, input };
}

function facesOf(boxes, dets, probsAt) {
  // probsAt(i) → {cls: p} of face i
  return boxes.map((b, i) => {
    const p = probsAt(i);
    const best = classNames.reduce((a, c) => (p[c] > p[a] ? c : a), classNames[0]);
    return { box: b.map((v) => Math.round(v)), emotion: best, probs: p, score: dets[i].score };
  });
}

async function classify(video, dets) {
  const t0 = performance.now();
  const { boxes, input } = cropInput(video, dets);
  const t1 = performance.now();
  const out = model.predict(input);
  const probs = await out.data();
  const t2 = performance.now();
  input.dispose(); out.dispose();
  const n = classNames.length;
  const faces = boxes.map((b, i) => {
    const p = {};
    let best = 0;
    for (let k = 0; k < n; k++) { p[classNames[k]] = probs[i * n + k]; if (probs[i * n + k] > probs[i * n + best]) best = k; }
    return { box: b.map((v) => Math.round(v)), emotion: classNames[best], probs: p, score: dets[i].score };
  });
  return { faces, crop: t1 - t0, cnn: t2 - t1 };
}

let faceapiLoaded = null;
function loadFaceApi() {
  // the face-api bundle as a classic script (it defines window.faceapi); resolves either way
  return (faceapiLoaded ||= new Promise((resolve) => {
    const s = document.createElement("script");
    s.src = "/vendor/face-api/face-api.js";
    s.onload = s.onerror = () => { mark("faceapi"); resolve(!!window.faceapi); };
    document.head.appendChild(s);
  }));
}

async function setupDetector(deferWeights = false) {
  // deferWeights: return a function that loads the detector's weights (so the caller can run it
  // beside the CNN's load) instead of loading them here
  await loadFaceApi();
  tf = window.faceapi && window.faceapi.tf;
  if (!tf) return fail("model", "The face detector (face-api) failed to load from /vendor/.");
  await setupBackend(params.get("backend") || cfg.backend || "wasm");
  const det = cfg.detector || {};
  detectorOpts = new faceapi.TinyFaceDetectorOptions({
    inputSize: Number(params.get("input") || det.input_size || 224),
    scoreThreshold: Number(params.get("threshold") || det.score_threshold || 0.5),
  });
  const weights = async () => {
    try {
      await faceapi.nets.tinyFaceDetector.loadFromUri(det.weights || DETECTOR_DIR);
    } catch (e) {
      return fail("model", `The face detector failed to load: ${e.message || e}`);
    }
    mark("detector");
    return true;
  };
  return deferWeights ? weights : weights();
}

async function prepareHybrid() {
  // TF.js backend, detector and CNN: main() starts this before the camera opens (they overlap)
  const want = params.get("variant") || cfg.default_variant;
  const det = await setupDetector(EAGER);
  if (!det) return false;
  if (!cfg.variants || !cfg.variants.length) return fail("model", "The model failed to load: the server has no TF.js model.");
  const model = () => loadVariant(want).then((m) => { if (m) mark("model"); return m; });
  const [d, m] = EAGER ? await Promise.all([det(), model()]) : [det, await model()];
  return d && m ? want : false;
}

async function runHybrid(video, prepared) {
  const want = await (prepared || prepareHybrid());
  if (!want || state.cameraError) return;
  const sel = $("variant");
  sel.value = want;
  sel.onchange = async () => {
    sel.disabled = true;
    const prev = state.variant;
    if (!(await loadVariant(sel.value)) && prev) sel.value = prev;
    sel.disabled = false;
  };
  if (params.get("track") !== "0" && params.get("k") !== "1") {
    $("track-stats").hidden = false;
    return runTracked(video, { state, $, tf, detectorOpts, cropInput, draw, showResult, showStages, tickFps,
      setMessage, getModel: () => model, classNames: () => classNames });
  }
  state.track = { enabled: false, k: 1 };
  state.ready = true;
  let prevEnd = performance.now();
  for (;;) {
    if (!model) { await new Promise((r) => setTimeout(r, 100)); continue; }
    const t0 = performance.now();
    let dets = [];
    try {
      dets = await faceapi.detectAllFaces(video, detectorOpts);
    } catch (e) { console.warn("detect failed", e); }
    const t1 = performance.now();
    let faces = [], crop = 0, cnn = 0;
    if (dets.length && model) ({ faces, crop, cnn } = await classify(video, dets));
    const t2 = performance.now();
    draw(video, faces);
    showResult(faces);
    showStages({ detect: t1 - t0, crop, cnn, total: t2 - t0, backend: state.backend, draw: performance.now() - t2, gap: t0 - prevEnd });
    prevEnd = performance.now();
    if (faces.length && state.first_prediction_ms == null) state.first_prediction_ms = performance.now();
    tickFps();
    if (!state.modelError && !state.cameraError) setMessage(faces.length ? "" : "No face found: look at the camera.", faces.length ? "info" : "warn");
    await new Promise((r) => requestAnimationFrame(r));
  }
}

// ---------------------------------------------------------------------------- split

const REPLAN_MARGIN = 0.25;   // re-plan when up/down rate or RTT moves by more than this fraction
const REPROBE_MS = Number(params.get("reprobe_ms") || 10000);

async function timed(fn) { const t0 = performance.now(); await fn(); return performance.now() - t0; }

async function probeLink() {
  // RTT: median of empty GETs; rates: a known-size download / upload minus one RTT
  const rtts = [];
  for (let i = 0; i < 5; i++) rtts.push(await timed(async () => (await fetch("/probe/download?bytes=0", { cache: "no-store" })).arrayBuffer()));
  rtts.sort((a, b) => a - b);
  const rtt = rtts[2];
  const DOWN = 2_000_000, UP = 1_000_000;
  const dms = await timed(async () => (await fetch(`/probe/download?bytes=${DOWN}`, { cache: "no-store" })).arrayBuffer());
  const ums = await timed(async () => (await fetch("/probe/upload", { method: "POST", body: new Uint8Array(UP) })).json());
  const mbps = (n, ms) => (n * 8) / (Math.max(ms - rtt, 0.05) * 1000);
  return { uplink_mbps: mbps(UP, ums), downlink_mbps: mbps(DOWN, dms), rtt_ms: rtt };
}

function linkMoved(a, b) {
  if (!a || !b) return true;
  const rel = (x, y) => Math.abs(x - y) / Math.max(x, y, 1e-9);
  return rel(a.uplink_mbps, b.uplink_mbps) > REPLAN_MARGIN || rel(a.downlink_mbps, b.downlink_mbps) > REPLAN_MARGIN
    || (rel(a.rtt_ms, b.rtt_ms) > REPLAN_MARGIN && Math.abs(a.rtt_ms - b.rtt_ms) > 2);
}

function loadMoved(now, plannedWith, margin) {
  // the server's load factor (GET /load) against the one the current plan was made with
  if (!(plannedWith > 0)) return false;
  return Math.abs(now - plannedWith) / Math.max(now, plannedWith, 1e-9) > margin;
}

async function serverLoad() {
  const r = await fetch("/load", { cache: "no-store" });
  if (!r.ok) throw new Error(`/load → ${r.status}`);
  return r.json();
}

window.hlSplitApp = { linkMoved, loadMoved, REPLAN_MARGIN }; // tests check the re-plan rules themselves

async function requestPlan(link) {
  const r = await fetch("/plan", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ ...link, device_model_ms: state.device_model_ms }) });
  const ans = await r.json();
  if (!r.ok) throw new Error(`/plan → ${r.status}: ${ans.error}`);
  return ans;
}

const heads = {};
async function headFor(cut, cuts) {
  // the input = cloud-only (no head); otherwise the TF.js head of the cut, exported by the server
  if (cut === cuts[0]) return null;
  if (!heads[cut]) {
    setMessage(`Loading the head up to ${cut}…`);
    heads[cut] = await tf.loadLayersModel(`/head/${encodeURIComponent(cut)}/model.json`);
    setMessage("");
  }
  return heads[cut];
}

function showSplit(row) {
  state.split = row;
  for (const k of ["head", "encode", "upload", "tail", "download"]) $(`ms-${k}`).textContent = fmt(row[`${k}_ms`]);
  $("cut-now").textContent = row.cut + (state.override ? " (yours)" : " (planned)");
}

function showPlan(plan) {
  state.plan = plan;
  state.plans += 1;
  const p = plan.predicted, l = plan.link;
  $("plan").textContent = `plan: cut after ${plan.cut} (${plan.kind}) · predicted ${fmt(p.total_ms)} ` +
    `(head ${fmt(p.head_ms)}, up ${fmt(p.upload_ms)}, tail ${fmt(p.tail_ms)}, down ${fmt(p.download_ms)}) · ` +
    `link ↑${l.uplink_mbps.toFixed(1)} ↓${l.downlink_mbps.toFixed(1)} Mbit/s, RTT ${fmt(l.rtt_ms)}`;
  const sel = $("cut");
  if (!sel.options.length) {
    const auto = document.createElement("option");
    auto.value = "";
    sel.appendChild(auto);
    for (const c of plan.cuts) {
      const o = document.createElement("option");
      o.value = c;
      o.textContent = c === plan.cuts[0] ? `${c} (cloud only)` : c === plan.cuts[plan.cuts.length - 1] ? `${c} (device only)` : c;
      sel.appendChild(o);
    }
  }
  sel.options[0].textContent = `auto (${plan.cut})`;
}

async function splitInfer(video, dets, cut, cuts) {
  // crop → head here → encode → POST /split/<cut> → tail on the server; per-stage ms
  const t0 = performance.now();
  const { boxes, input } = cropInput(video, dets);
  const t1 = performance.now();
  const head = await headFor(cut, cuts);
  let data, shape;
  if (head) {
    const y = head.predict(input);
    data = await y.data(); shape = y.shape; y.dispose();
  } else { data = await input.data(); shape = input.shape; }
  input.dispose();
  const t2 = performance.now();
  const row = { cut, crop_ms: t1 - t0, head_ms: head ? t2 - t1 : 0, encode_ms: 0, upload_ms: 0, tail_ms: 0, download_ms: 0 };
  if (cut === cuts[cuts.length - 1]) { // device only: the head is the whole model
    const n = classNames.length;
    return { row, faces: facesOf(boxes, dets, (i) => Object.fromEntries(classNames.map((c, k) => [c, data[i * n + k]]))) };
  }
  // the plan says how the cut tensor travels (serve --split-wire): dtype and lossless codec
  const w = (state.plan && state.plan.wire) || { dtype: "float32", codec: "none" };
  const enc = wire.encode(data, w.dtype);
  const body = await wire.compress(enc.bytes, w.codec);
  row.up_bytes = body.byteLength; row.wire = `${w.dtype}+${w.codec}`;
  const t3 = performance.now();
  row.encode_ms = t3 - t2;
  const url = `${location.origin}/split/${encodeURIComponent(cut)}?seq=${++state.splitSeq}`;
  const resp = await fetch(url, { method: "POST", body, cache: "no-store", headers: { "Content-Type": "application/octet-stream",
    "X-Shape": shape.join(","), "X-Dtype": w.dtype, "X-Codec": w.codec, ...enc.headers } });
  const ans = await resp.json();
  const t4 = performance.now();
  if (!resp.ok) throw new Error(`/split/${cut} → ${resp.status}: ${ans.error || ""}`);
  row.tail_ms = ans.server_ms;
  const rt = await wire.timingOf(url);
  if (rt && rt.responseStart > 0 && rt.requestStart > 0) {
    row.upload_ms = rt.responseStart - rt.requestStart - ans.server_ms;
    row.download_ms = rt.responseEnd - rt.responseStart;
  } else { row.upload_ms = t4 - t3 - ans.server_ms; }
  row.layer = ans.layer;
  const all = ans.batch || [ans];
  return { row, faces: facesOf(boxes, dets, (i) => all[i].probs) };
}

let wire = null;
async function runSplit(video) {
  $("variant").parentElement.style.display = "none";
  $("split-stats").hidden = false;
  $("hint").textContent = "The network's first layers run here, the rest on the server; the cut follows the measured link.";
  Object.assign(state, { plans: 0, splitSeq: 0, override: null, split: null, plan: null, link: null });
  wire = await import("./wire.js");
  performance.setResourceTimingBufferSize(100000);
  if (!(await setupDetector())) return;
  // how fast is this device? the whole model, timed here (its per-layer shares come from the server)
  setMessage("Measuring this device…");
  const full = await tf.loadLayersModel("/head/output/model.json"); // the whole model: device-only
  const x = tf.zeros([1, 48, 48, 1]);
  for (let i = 0; i < 2; i++) { const y = full.predict(x); await y.data(); y.dispose(); }
  const ts = [];
  for (let i = 0; i < 5; i++) { const t0 = performance.now(); const y = full.predict(x); await y.data(); y.dispose(); ts.push(performance.now() - t0); }
  x.dispose();
  ts.sort((a, b) => a - b);
  state.device_model_ms = Math.max(ts[2], 0.01);
  setMessage("Probing the link…");
  let plan;
  try {
    state.link = await probeLink();
    plan = await requestPlan(state.link);
  } catch (e) { return fail("model", `Could not plan the split: ${e.message || e}`); }
  heads[plan.cuts[plan.cuts.length - 1]] = full;
  showPlan(plan);
  $("cut").onchange = () => { state.override = $("cut").value || null; };
  let lastProbe = performance.now();
  state.ready = true;
  setMessage("");
  for (;;) {
    if (performance.now() - lastProbe > REPROBE_MS) {
      lastProbe = performance.now();
      try {
        const link = await probeLink();
        state.probed = link; // the newest probe, re-planned on or not (tests read it back)
        state.probes = (state.probes || 0) + 1;
        const load = await serverLoad();
        state.load = load.factor;
        const pl = plan.load || {};
        if (linkMoved(link, state.link) || loadMoved(load.factor, pl.planned_with, load.margin)) {
          state.link = link;
          showPlan(plan = await requestPlan(link));
        }
      } catch (e) { console.warn("re-probe failed", e); }
    }
    const cut = state.override || plan.cut;
    const t0 = performance.now();
    let dets = [];
    try { dets = await faceapi.detectAllFaces(video, detectorOpts); } catch (e) { console.warn("detect failed", e); }
    const t1 = performance.now();
    let faces = [], row = null;
    if (dets.length) {
      try { ({ faces, row } = await splitInfer(video, dets, cut, plan.cuts)); }
      catch (e) { setMessage(`Split inference failed: ${e.message || e}`, "warn"); }
    }
    const t2 = performance.now();
    draw(video, faces);
    showResult(faces);
    if (row) showSplit(row);
    showStages({ detect: t1 - t0, crop: row ? row.crop_ms : 0, cnn: row ? t2 - t1 - row.crop_ms : 0, total: t2 - t0, backend: state.backend });
    if (faces.length && state.first_prediction_ms == null) state.first_prediction_ms = performance.now();
    tickFps();
    if (!state.modelError && !state.cameraError && (faces.length || !dets.length))
      setMessage(faces.length ? "" : "No face found: look at the camera.", faces.length ? "info" : "warn");
    await new Promise((r) => requestAnimationFrame(r));
  }
}

// ---------------------------------------------------------------------------- exit

async function runExitMode(video) {
  $("variant").parentElement.style.display = "none";
  $("exit-stats").hidden = false;
  $("hint").textContent = "A small branch answers here when it is sure; otherwise its compressed features (tens to hundreds of bytes) go to the server.";
  if (!(await setupDetector())) return;
  let mod;
  try { mod = await import("./exit.js"); } catch (e) { return fail("model", `Exit client failed to load: ${e.message || e}`); }
  return mod.runExit(video, { state, $, cfg, tf, detectorOpts, cropInput, draw, showResult, showStages, tickFps, setMessage,
    fail, fmt, classNames: () => classNames });
}

// ---------------------------------------------------------------------------- cloud

async function runCloud(video, stream) {
  $("variant").parentElement.style.display = "none";
  $("backend").textContent = "server";
  $("hint").textContent = "Frames travel to the server over WebRTC; boxes and emotions come back on a data channel.";
  $("ms-cnn").previousElementSibling.textContent = "server";
  state.backend = "server";
  let mod;
  try {
    mod = await import("./cloud.js");
  } catch (e) {
    return fail("model", `Cloud client failed to load: ${e.message || e}`);
  }
  let latest = [];
  const drawLoop = () => { draw(video, latest); requestAnimationFrame(drawLoop); };
  requestAnimationFrame(drawLoop);
  setMessage("Connecting to the server…");
  const connect = () => mod.startCloud(stream, {
    onResult: (msg) => {
      latest = msg.faces || [];
      showResult(latest);
      const st = { detect: msg.detect_ms, crop: msg.crop_ms, cnn: msg.cnn_ms ?? msg.server_ms, total: msg.server_ms };
      showStages(st);
      if (msg.rtt_ms != null) { state.rtt_ms = msg.rtt_ms; $("ms-rtt").textContent = fmt(msg.rtt_ms); }
      tickFps();
      if (state.first_prediction_ms == null && latest.length) {
        state.first_prediction_ms = performance.now();
        $("ttfp").textContent = `${fmt(state.first_prediction_ms)} (page load → first result)`;
      }
      state.ready = true;
      if (!state.error) setMessage(latest.length ? "" : "No face found: look at the camera.", latest.length ? "info" : "warn");
    },
    onStats: (s) => {
      const rtt = s && (s.rtt_ms ?? s.round_trip_ms);
      if (rtt != null) { state.rtt_ms = rtt; $("ms-rtt").textContent = fmt(rtt); }
      state.cloudStats = s;
    },
  });
  // a full server (503) is a normal classroom event, not an error: say so plainly, count the
  // tries, and ask again every ?retry_s seconds (10) until a place frees up
  for (let tries = 1; ; tries++) {
    try {
      await connect();
      state.full = null;
      return;
    } catch (e) {
      if (e.status !== 503) return fail("model", `Could not connect to the server: ${e.message || e}`);
      const cap = e.body && e.body.max_sessions;
      const wait = Math.max(1, e.retryAfter || Number(params.get("retry_s") || 10));
      state.full = { tries, max_sessions: cap ?? null, retry_s: wait };
      setMessage(`The server is full: it analyses ${cap ? cap + " camera" + (cap === 1 ? "" : "s") : "as many cameras as it can"}`
        + ` at a time, at full speed. Trying again in ${wait} s (try ${tries}).`
        + " Ask your instructor for the hybrid-mode address: there the model runs on this phone.", "warn");
      await new Promise((r) => setTimeout(r, wait * 1000));
    }
  }
}

// ---------------------------------------------------------------------------- main

async function main() {
  // the camera opens (in the browser process) while the config and the face detector load;
  // the html names the mode, so a hybrid page starts the detector's script without waiting
  const htmlMode = document.documentElement.dataset.mode;
  if (EAGER && htmlMode && htmlMode !== "cloud") { loadFaceApi(); startDownloads(null); }
  const camera = openCamera();
  try {
    cfg = await (await fetch("/config")).json();
    mark("config");
  } catch (e) {
    return fail("model", `Cannot reach the server: ${e.message || e}`);
  }
  if (cfg.mode === "hybrid") startDownloads(params.get("variant") || cfg.default_variant);
  state.mode = cfg.mode;
  const badge = $("mode");
  badge.textContent = `${cfg.mode} mode`;
  badge.title = cfg.mode === "cloud" ? "frames go to the server, results come back"
    : cfg.mode === "split" ? "the network's head runs in this browser, its tail on the server"
    : cfg.mode === "exit" ? "a branch answers in this browser when confident; otherwise its compressed features go to the server" : "the neural network runs in this browser";
  badge.classList.toggle("cloud", cfg.mode === "cloud");
  buildBars(cfg.class_names);
  const sel = $("variant");
  for (const v of cfg.variants || []) {
    const o = document.createElement("option");
    o.value = v.name;
    o.textContent = `${v.name} · ${(v.bytes / 1e6).toFixed(1)} MB`;
    sel.appendChild(o);
  }
  if (!state.cameraError) setMessage("Opening the camera…");
  if (cfg.mode !== "cloud") loadFaceApi();
  const prepared = cfg.mode === "hybrid"
    ? prepareHybrid().catch((e) => fail("model", `The model failed to load: ${e.message || e}`)) : null;
  const stream = await camera;
  if (!stream) return;
  mark("camera");
  const video = await startVideo(stream);
  mark("video");
  setMessage("");
  if (cfg.mode === "cloud") return runCloud(video, stream);
  if (cfg.mode === "split") return runSplit(video);
  if (cfg.mode === "exit") return runExitMode(video);
  return runHybrid(video, prepared);
}

main().catch((e) => { console.error(e); fail("model", `Unexpected error: ${e.message || e}`); });
