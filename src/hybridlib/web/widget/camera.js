// hybridlib camera widget (anywidget, plain ESM, no build step). See hybridlib/widgets.py.
//
// kernel:  frame → downsized JPEG → model.send(msg, undefined, [buffer]) → kernel → result.
// browser: face-api + our TF.js model run here (assets arrive as binary comm messages).
// split:   face-api + the head here; the cut tensor goes to the kernel, which runs the tail.
// Backpressure: at most max_in_flight unanswered frames; a slow kernel lowers the rate.
// The root element's data-* attributes (mode, frames, label, fps, rtt) mirror the readouts.

const CLASSES = ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"];
const MODES = ["kernel", "browser", "split"];
// face-api + tf, shared by every widget on the page: anywidget evaluates this module once per
// widget, and a second copy of TF.js would re-register the wasm backend against the first
const runtimeCache = (globalThis.__hybridlibCameraRuntime = globalThis.__hybridlibCameraRuntime || { promise: null });

function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}
const asBuffer = (dv) => dv.buffer.slice(dv.byteOffset, dv.byteOffset + dv.byteLength);
const fmt = (ms) => (ms == null || !isFinite(ms) ? "–" : ms < 10 ? ms.toFixed(1) + " ms" : Math.round(ms) + " ms");

function render({ model, el }) {
  const root = h("div", "hlcam");
  el.appendChild(root);
  // ---- layout
  const head = h("div", "hlcam-head");
  const title = h("span", "hlcam-title", "Emotion, live");
  const modeBox = h("span", "hlcam-modes");
  const modeBtns = {};
  for (const m of MODES) {
    const b = h("button", "hlcam-mode", m);
    b.dataset.mode = m;
    b.onclick = () => { model.set("mode", m); model.save_changes(); };
    modeBtns[m] = b;
    modeBox.appendChild(b);
  }
  const startBtn = h("button", "hlcam-start", "start");
  startBtn.onclick = () => { model.set("running", !model.get("running")); model.save_changes(); };
  head.append(title, modeBox, startBtn);
  const modelLine = h("div", "hlcam-model");
  const body = h("div", "hlcam-body");
  const canvas = h("canvas", "hlcam-canvas");
  canvas.width = 320; canvas.height = 240;
  const side = h("div", "hlcam-side");
  const label = h("div", "hlcam-label", "—");
  const bars = h("ul", "hlcam-bars");
  const barEls = {};
  for (const c of CLASSES) {
    const li = h("li");
    const fill = h("span", "fill");
    const track = h("span", "track");
    track.appendChild(fill);
    const pct = h("span", "pct", "–");
    li.append(h("span", "name", c), track, pct);
    barEls[c] = { li, fill, pct };
    bars.appendChild(li);
  }
  const stats = h("div", "hlcam-stats");
  const readout = {};
  for (const [k, t] of [["fps", "fps"], ["rtt", "round trip"], ["work", "kernel"], ["frames", "frames"], ["inflight", "in flight"], ["backend", "runs on"]]) {
    const d = h("div", "stat");
    d.append(h("span", "k", t), (readout[k] = h("span", "v", "–")));
    stats.appendChild(d);
  }
  side.append(label, bars, stats);
  body.append(canvas, side);
  const status = h("div", "hlcam-status", "stopped — press start");
  root.append(head, modelLine, body, status);
  const video = h("video");
  video.muted = true; video.playsInline = true; video.autoplay = true;
  const grab = document.createElement("canvas");

  // ---- state
  let stream = null, seq = 0, encoding = false, busy = false, stopped = false;
  const inflight = new Map(); // seq → sent at (ms)
  const ticks = [];
  let fpsEma = 0, lastTick = 0, rttEma = null, frames = 0, lastFaces = [], lastSize = [320, 240];
  let lastStats = 0, lastLabel = null, workMs = null;
  let rt = null, fullModel = null, headModel = null, headLayer = null, detOpts = null;
  const pending = {}; // asset kind → resolve

  const setStatus = (t, kind = "info") => { status.textContent = t; status.dataset.kind = kind; };
  const logToKernel = (text) => { try { model.send({ type: "log", text: String(text) }); } catch (e) { /* closed */ } };

  function syncUi() {
    const m = model.get("mode");
    for (const k of MODES) modeBtns[k].classList.toggle("on", k === m);
    startBtn.textContent = model.get("running") ? "stop" : "start";
    modelLine.textContent = `model: ${model.get("model_label") || "?"}` + (m === "split" && model.get("split_layer") ? ` · cut after ${model.get("split_layer")}` : "");
    root.dataset.mode = m;
    readout.work.previousSibling.textContent = m === "browser" ? "in page" : m === "split" ? "tail (kernel)" : "kernel";
    readout.backend.textContent = m === "kernel" ? "kernel" : rt ? `TF.js ${rt.tf.getBackend()}` + (m === "split" ? " + kernel" : "") : "…";
  }

  function showResult(faces, size) {
    lastFaces = faces; lastSize = size || lastSize;
    const main = faces.length ? faces.reduce((a, b) => (a.box[2] * a.box[3] >= b.box[2] * b.box[3] ? a : b)) : null;
    lastLabel = main ? main.emotion : null;
    label.textContent = main ? `${main.emotion} ${(100 * main.probs[main.emotion]).toFixed(0)}%` : "no face";
    label.classList.toggle("none", !main);
    root.dataset.label = lastLabel || "";
    for (const c of CLASSES) {
      const p = main ? main.probs[c] || 0 : 0;
      barEls[c].fill.style.width = `${(100 * p).toFixed(1)}%`;
      barEls[c].pct.textContent = main ? `${(100 * p).toFixed(0)}%` : "–";
      barEls[c].li.classList.toggle("top", !!main && c === main.emotion);
    }
  }

  function tick(rtt) {
    const now = performance.now();
    // frames per second over the last 2 s of results (answers come in bursts of up to
    // max_in_flight, so a per-frame interval average would swing wildly)
    ticks.push(now);
    while (ticks.length && now - ticks[0] > 2000) ticks.shift();
    if (ticks.length >= 2) fpsEma = (1000 * (ticks.length - 1)) / Math.max(1, now - ticks[0]);
    lastTick = now; frames += 1;
    if (rtt != null) rttEma = rttEma == null ? rtt : 0.8 * rttEma + 0.2 * rtt;
    readout.fps.textContent = fpsEma ? fpsEma.toFixed(1) : "–";
    readout.rtt.textContent = fmt(rttEma);
    readout.work.textContent = fmt(workMs);
    readout.frames.textContent = String(frames);
    readout.inflight.textContent = String(inflight.size);
    root.dataset.frames = String(frames);
    root.dataset.fps = fpsEma.toFixed(2);
    root.dataset.rtt = rttEma == null ? "" : rttEma.toFixed(1);
    if (now - lastStats > 1000) {
      lastStats = now;
      model.set("stats", { mode: model.get("mode"), frames, fps: +fpsEma.toFixed(2), rtt_ms: rttEma == null ? null : +rttEma.toFixed(2), work_ms: workMs, label: lastLabel, backend: readout.backend.textContent, video: [video.videoWidth, video.videoHeight] });
      model.save_changes();
    }
  }

  function draw() {
    const W = video.videoWidth, H = video.videoHeight;
    if (!W || !H) return;
    const cw = Math.min(480, W), ch = Math.round((cw * H) / W);
    if (canvas.width !== cw || canvas.height !== ch) { canvas.width = cw; canvas.height = ch; }
    const g = canvas.getContext("2d");
    g.drawImage(video, 0, 0, cw, ch);
    const sx = cw / lastSize[0], sy = ch / lastSize[1];
    g.font = "600 14px system-ui, sans-serif";
    for (const f of lastFaces) {
      const [x, y, w, hh] = f.box;
      g.strokeStyle = "#38bdf8"; g.lineWidth = 2;
      g.strokeRect(x * sx, y * sy, w * sx, hh * sy);
      const text = `${f.emotion} ${(100 * f.probs[f.emotion]).toFixed(0)}%`;
      const tw = g.measureText(text).width + 10;
      const ty = y * sy - 20 >= 0 ? y * sy - 20 : y * sy + hh * sy;
      g.fillStyle = "rgba(15,23,42,.85)"; g.fillRect(x * sx, ty, tw, 20);
      g.fillStyle = "#e2e8f0"; g.fillText(text, x * sx + 5, ty + 15);
    }
  }

  // ---- kernel mode: JPEG frames with backpressure
  async function sendFrame() {
    const W = Math.min(model.get("width"), video.videoWidth), H = Math.round((W * video.videoHeight) / video.videoWidth);
    grab.width = W; grab.height = H;
    grab.getContext("2d").drawImage(video, 0, 0, W, H);
    const blob = await new Promise((r) => grab.toBlob(r, "image/jpeg", model.get("quality")));
    const buf = await blob.arrayBuffer();
    const s = ++seq;
    inflight.set(s, performance.now());
    model.send({ type: "frame", seq: s, size: [W, H] }, undefined, [buf]);
  }

  // ---- browser / split: assets from the kernel, TF.js here
  function request(what) {
    return new Promise((resolve) => { pending[what] = resolve; model.send({ type: "assets", what }); });
  }
  async function runtime() {
    if (!runtimeCache.promise) {
      runtimeCache.promise = (async () => {
        const { meta, buffers } = await request("runtime");
        const url = URL.createObjectURL(new Blob([asBuffer(buffers[0])], { type: "text/javascript" }));
        const fa = await import(/* webpackIgnore: true */ url);
        const tf = fa.tf;
        const wasm = (n) => URL.createObjectURL(new Blob([asBuffer(buffers[n])], { type: "application/wasm" }));
        const paths = { "tfjs-backend-wasm.wasm": wasm(1), "tfjs-backend-wasm-simd.wasm": wasm(2), "tfjs-backend-wasm-threaded-simd.wasm": wasm(2) };
        try { (tf.wasm && tf.wasm.setWasmPaths ? tf.wasm.setWasmPaths : tf.setWasmPaths)(paths); } catch (e) { logToKernel(`setWasmPaths: ${e}`); }
        for (const b of ["wasm", "webgl", "cpu"]) {
          try { if (await tf.setBackend(b)) { await tf.ready(); break; } } catch (e) { logToKernel(`backend ${b}: ${e}`); }
        }
        const wm = tf.io.decodeWeights(asBuffer(buffers[3]), meta.detector_manifest[0].weights);
        fa.nets.tinyFaceDetector.loadFromWeightMap(wm);
        return { fa, tf, detector: meta.detector };
      })();
      runtimeCache.promise.catch(() => { runtimeCache.promise = null; });
    }
    return runtimeCache.promise;
  }
  async function loadModel(what) {
    const { meta, buffers } = await request(what);
    const mj = meta.model;
    const specs = mj.weightsManifest.flatMap((g) => g.weights);
    const m = await rt.tf.loadLayersModel(rt.tf.io.fromMemory({ modelTopology: mj.modelTopology, weightSpecs: specs, weightData: asBuffer(buffers[0]) }));
    const y = rt.tf.tidy(() => m.predict(rt.tf.zeros([1, 48, 48, 1])));
    await y.data(); y.dispose();
    return { m, meta };
  }
  async function ensureBrowser(mode) {
    if (!rt) { setStatus("loading TF.js and the face detector from the kernel…"); rt = await runtime(); }
    detOpts = detOpts || new rt.fa.TinyFaceDetectorOptions({ inputSize: rt.detector.input_size, scoreThreshold: rt.detector.score_threshold });
    if (mode === "browser" && !fullModel) { setStatus("loading the model from the kernel…"); fullModel = (await loadModel("model")).m; }
    if (mode === "split" && !headModel) { setStatus("loading the head of the split from the kernel…"); const r = await loadModel("head"); headModel = r.m; headLayer = r.meta.layer; }
    syncUi();
  }
  async function detectAndCrop() {
    const tf = rt.tf;
    const dets = await rt.fa.detectAllFaces(video, detOpts);
    const W = video.videoWidth, H = video.videoHeight;
    const boxes = dets.map((d) => {
      const x0 = Math.max(0, d.box.x), y0 = Math.max(0, d.box.y);
      const x1 = Math.min(W, d.box.x + d.box.width), y1 = Math.min(H, d.box.y + d.box.height);
      return [x0, y0, x1 - x0, y1 - y0];
    });
    if (!boxes.length) return { boxes, input: null };
    const input = tf.tidy(() => {
      const img = tf.browser.fromPixels(video).toFloat().expandDims(0);
      const norm = boxes.map(([x, y, w, hh]) => [y / H, x / W, (y + hh) / H, (x + w) / W]);
      const rgb = tf.image.cropAndResize(img, norm, boxes.map(() => 0), [48, 48], "bilinear");
      return rgb.mul(tf.tensor1d([0.299, 0.587, 0.114])).sum(-1, true).round().div(255);
    });
    return { boxes: boxes.map((b) => b.map((v) => Math.round(v))), input };
  }
  function facesFrom(boxes, probs) {
    return boxes.map((b, i) => {
      const p = {}; let best = 0;
      for (let k = 0; k < 7; k++) { p[CLASSES[k]] = probs[i * 7 + k]; if (probs[i * 7 + k] > probs[i * 7 + best]) best = k; }
      return { box: b, emotion: CLASSES[best], probs: p };
    });
  }
  async function browserStep() {
    const t0 = performance.now();
    const { boxes, input } = await detectAndCrop();
    let faces = [];
    if (input) { const out = fullModel.predict(input); faces = facesFrom(boxes, await out.data()); out.dispose(); input.dispose(); }
    workMs = performance.now() - t0;
    showResult(faces, [video.videoWidth, video.videoHeight]);
    tick(null);
    if (status.dataset.kind !== "error") setStatus("browser mode · running (TF.js in this page)");
  }
  async function splitStep() {
    const { boxes, input } = await detectAndCrop();
    if (!input) { showResult([], [video.videoWidth, video.videoHeight]); tick(null); return; }
    const y = headModel.predict(input);
    const data = await y.data();
    const shape = y.shape;
    y.dispose(); input.dispose();
    const s = ++seq;
    inflight.set(s, performance.now());
    model.send({ type: "split", seq: s, layer: headLayer, shape, boxes, size: [video.videoWidth, video.videoHeight] }, undefined, [data.buffer]);
  }

  // ---- messages from the kernel
  model.on("msg:custom", (msg, buffers) => {
    try {
      if (msg.type === "result" || msg.type === "error") {
        const t0 = inflight.get(msg.seq);
        inflight.delete(msg.seq);
        if (msg.type === "error") { setStatus(`kernel: ${msg.error}`, "error"); return; }
        workMs = msg.kernel_ms;
        showResult(msg.faces || [], msg.size);
        tick(t0 != null ? performance.now() - t0 : null);
        if (status.dataset.kind !== "error") setStatus(`${model.get("mode")} mode · running`);
      } else if (msg.type === "assets" && pending[msg.what]) {
        const r = pending[msg.what];
        delete pending[msg.what];
        r({ meta: msg.meta, buffers });
      }
    } catch (e) { console.error(e); logToKernel(`result handling: ${e}`); }
  });

  // ---- the loop (one requestAnimationFrame chain while running)
  function loop() {
    if (stopped || !model.get("running")) return;
    draw();
    const now = performance.now();
    for (const [s, t] of inflight) if (now - t > 5000) inflight.delete(s); // lost: free the slot
    const mode = model.get("mode");
    const free = inflight.size < model.get("max_in_flight");
    if (video.videoWidth && !busy) {
      if (mode === "kernel" && free && !encoding) {
        encoding = true;
        sendFrame().catch((e) => logToKernel(`send: ${e}`)).finally(() => { encoding = false; });
      } else if (mode !== "kernel" && (mode === "browser" || free)) {
        busy = true;
        ensureBrowser(mode)
          .then(() => (mode === "browser" ? browserStep() : splitStep()))
          .catch((e) => { setStatus(`${mode} mode failed: ${e.message || e}`, "error"); logToKernel(`${mode}: ${e.stack || e}`); model.set("running", false); model.save_changes(); })
          .finally(() => { busy = false; });
      }
    }
    requestAnimationFrame(loop);
  }

  async function start() {
    if (!stream) {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        setStatus("no camera access here (the page must be https or localhost)", "error");
        model.set("running", false); model.save_changes(); return;
      }
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
      } catch (e) {
        setStatus(`camera: ${e.name || e} (allow the camera and press start again)`, "error");
        model.set("running", false); model.save_changes(); return;
      }
      video.srcObject = stream;
      await video.play().catch(() => {});
      while (!video.videoWidth) await new Promise((r) => setTimeout(r, 30));
    }
    setStatus(`${model.get("mode")} mode · starting`);
    root.dataset.error = "";
    fpsEma = 0; lastTick = 0; rttEma = null; ticks.length = 0;
    requestAnimationFrame(loop);
  }
  function stop() {
    inflight.clear();
    if (stream) { for (const tr of stream.getTracks()) tr.stop(); stream = null; video.srcObject = null; }
    if (status.dataset.kind !== "error") setStatus("stopped — press start"); // keep the reason visible
    root.dataset.error = status.dataset.kind === "error" ? status.textContent : "";
  }

  model.on("change:running", () => { syncUi(); model.get("running") ? start() : stop(); });
  model.on("change:mode", () => { inflight.clear(); fpsEma = 0; lastTick = 0; rttEma = null; ticks.length = 0; lastFaces = []; syncUi(); setStatus(`${model.get("mode")} mode`); });
  model.on("change:model_label", syncUi);
  model.on("change:split_layer", syncUi);
  model.on("change:status", () => { if (model.get("status")) setStatus(model.get("status"), "error"); });
  syncUi();
  if (model.get("running")) start();
  return () => { stopped = true; stop(); };
}

export default { render };
