// hybridlib app, hybrid mode's tracked pipeline: detect every k-th frame, track the boxes between.
//
// Why: on a phone-class page the face detector is ~3/4 of a frame (≈140 ms at DevTools CPU ×4)
// while a face moves a few pixels a frame. Between detections each box is found again by
// template matching (normalised cross-correlation, NCC) of a coarse gray copy of the detected
// face inside a window around its last position, which costs a millisecond or two.
//
// A re-detect runs at once when a track is lost (best NCC < minCorr: the face left or changed),
// on the next frame when the CNN's confidence collapses (top probability < confDrop × the one at
// detection), and otherwise every k frames or maxAgeMs. k adapts to the measured frame times:
// the detector's amortised share, (D/k) / (D/k + T) with D = detect ms and T = a tracked frame's
// ms, is kept under shareTarget, so k = ⌈D(1 − s) / (s·T)⌉, clamped to [2, kMax].
//
// The CNN's input is cut from a small window read once per face and frame (drawImage of the
// window at 1:1 + getImageData; the tracker matches in the same pixels), not from the whole
// frame: the box is re-expressed in window coordinates and TF.js' cropAndResize rule (bilinear,
// same sample points) + the gray weights are applied in plain JS to the 48×48 samples only, so
// the input equals the old whole-frame crop's (fromPixels of 640×480 + cropAndResize + gray) up
// to a .5 rounding tie (1/255) at a fraction of the cost. ?crop=window-tf runs cropAndResize on
// the window instead (same numbers, a little slower); bench_browser.py --app times all of them.
//
// URL: ?track=0 (or ?k=1) = the old every-frame pipeline in app.js; ?k=N fixes k; ?verify=1 also
// runs the every-frame pipeline (detector + whole-frame crop) on each tracked frame and records
// in hlState.track.verify how often its label matches and the IoU of its box with the tracked one;
// ?crop=frame|window|window-tf|canvas48 picks the crop (window = default; frame = the old one;
// canvas48 = drawImage straight to 48×48, the browser's resampling: not the same numbers).
// hlState.track: {k, kFixed, detected, tracked, redetects, lost, last, corr, reason, detect_ms,
// frame_ms}; each face carries source ("detected" | "tracked") and corr.

export const TRACK = { shareTarget: 0.3, kMax: 12, maxAgeMs: 1000, minCorr: 0.6, confDrop: 0.5,
  margin: 0.3, cell: 24 };

const win = document.createElement("canvas");
const wg = win.getContext("2d", { willReadFrequently: true });

export function readWindow(video, r) {
  // r = [x, y, w, h] in integer video pixels → ImageData of that window at 1:1
  if (win.width !== r[2] || win.height !== r[3]) { win.width = r[2]; win.height = r[3]; }
  wg.drawImage(video, r[0], r[1], r[2], r[3], 0, 0, r[2], r[3]);
  return wg.getImageData(0, 0, r[2], r[3]);
}

export function windowAround(box, W, H, pad) {
  // integer window holding box ± pad pixels (and every pixel cropAndResize may sample), clamped
  const x0 = Math.max(0, Math.floor(box[0] - pad) - 1), y0 = Math.max(0, Math.floor(box[1] - pad) - 1);
  const x1 = Math.min(W, Math.ceil(box[0] + box[2] + pad) + 1), y1 = Math.min(H, Math.ceil(box[1] + box[3] + pad) + 1);
  return [x0, y0, Math.max(1, x1 - x0), Math.max(1, y1 - y0)];
}

export function grid(img, f) {
  // gray (0.299R + 0.587G + 0.114B) averaged over f×f blocks → {w, h, g: Float32Array}
  const w = Math.floor(img.width / f), h = Math.floor(img.height / f), d = img.data, W = img.width;
  const g = new Float32Array(w * h);
  for (let y = 0; y < h * f; y++) {
    const row = (y / f | 0) * w, o = y * W * 4;
    for (let x = 0; x < w * f; x++) {
      const i = o + x * 4;
      g[row + (x / f | 0)] += 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
    }
  }
  const n = f * f;
  for (let i = 0; i < g.length; i++) g[i] /= n;
  return { w, h, g };
}

export function templateOf(G, cx, cy, tw, th) {
  // zero-mean patch of G at cell (cx, cy), size tw×th, and its norm
  const t = new Float32Array(tw * th);
  let s = 0;
  for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) s += (t[y * tw + x] = G.g[(cy + y) * G.w + cx + x]);
  const m = s / t.length;
  let v = 0;
  for (let i = 0; i < t.length; i++) { t[i] -= m; v += t[i] * t[i]; }
  return { t, tw, th, norm: Math.sqrt(v) };
}

export function match(G, T) {
  // NCC of template T at every cell of G → {cx, cy (sub-cell, parabola fit), corr}
  const { w, h, g } = G, { t, tw, th, norm } = T;
  const nx = w - tw + 1, ny = h - th + 1;
  if (nx < 1 || ny < 1 || !(norm > 0)) return { cx: 0, cy: 0, corr: 0 };
  const iw = w + 1, S = new Float64Array(iw * (h + 1)), S2 = new Float64Array(iw * (h + 1));
  for (let y = 0; y < h; y++) {
    let a = 0, b = 0;
    for (let x = 0; x < w; x++) {
      const v = g[y * w + x]; a += v; b += v * v;
      S[(y + 1) * iw + x + 1] = S[y * iw + x + 1] + a; S2[(y + 1) * iw + x + 1] = S2[y * iw + x + 1] + b;
    }
  }
  const n = tw * th, C = new Float32Array(nx * ny);
  let best = -2, bx = 0, by = 0;
  for (let cy = 0; cy < ny; cy++) for (let cx = 0; cx < nx; cx++) {
    let dot = 0;
    for (let y = 0; y < th; y++) {
      const go = (cy + y) * w + cx, to = y * tw;
      for (let x = 0; x < tw; x++) dot += t[to + x] * g[go + x];
    }
    const i0 = cy * iw + cx, i1 = (cy + th) * iw + cx;
    const s = S[i1 + tw] - S[i1] - S[i0 + tw] + S[i0], s2 = S2[i1 + tw] - S2[i1] - S2[i0 + tw] + S2[i0];
    const v = s2 - (s * s) / n;
    const c = v > 1e-6 ? dot / (norm * Math.sqrt(v)) : 0;
    C[cy * nx + cx] = c;
    if (c > best) { best = c; bx = cx; by = cy; }
  }
  const sub = (l, m, r) => { const d = l - 2 * m + r; return d < 0 ? Math.max(-0.5, Math.min(0.5, 0.5 * (l - r) / d)) : 0; };
  const sx = bx > 0 && bx < nx - 1 ? sub(C[by * nx + bx - 1], best, C[by * nx + bx + 1]) : 0;
  const sy = by > 0 && by < ny - 1 ? sub(C[(by - 1) * nx + bx], best, C[(by + 1) * nx + bx]) : 0;
  return { cx: bx + sx, cy: by + sy, corr: best };
}

export function cadenceK(detectMs, frameMs, share = TRACK.shareTarget, kMax = TRACK.kMax) {
  // smallest k with the detector's amortised share of a frame under `share`
  if (!(detectMs > 0) || !(frameMs > 0)) return 2;
  return Math.max(2, Math.min(kMax, Math.ceil((detectMs * (1 - share)) / (share * frameMs))));
}

export function iou(a, b) {
  const x0 = Math.max(a[0], b[0]), y0 = Math.max(a[1], b[1]);
  const x1 = Math.min(a[0] + a[2], b[0] + b[2]), y1 = Math.min(a[1] + a[3], b[1] + b[3]);
  const i = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  return i / (a[2] * a[3] + b[2] * b[3] - i || 1);
}

// ------------------------------------------------------------------------------------ crops

const cropCanvas = document.createElement("canvas");
cropCanvas.width = cropCanvas.height = 48;
const cg = cropCanvas.getContext("2d", { willReadFrequently: true });

function clampBox(b, W, H) {
  const x0 = Math.max(0, b[0]), y0 = Math.max(0, b[1]);
  const x1 = Math.min(W, b[0] + b[2]), y1 = Math.min(H, b[1] + b[3]);
  return [x0, y0, Math.max(1, x1 - x0), Math.max(1, y1 - y0)];
}

function windowCrop(tf, img, r, box, W, H) {
  // 48×48 gray of box from the window image r, sampling the points the whole-frame crop samples:
  // frame x = x0/W·(W−1) + j·w/W·(W−1)/47 → window coordinates, normalised by (window − 1)
  const [x, y, w, h] = box;
  const nx = (v) => ((v / W) * (W - 1) - r[0]) / Math.max(1, r[2] - 1);
  const ny = (v) => ((v / H) * (H - 1) - r[1]) / Math.max(1, r[3] - 1);
  return tf.tidy(() => {
    const px = tf.browser.fromPixels(img).toFloat().expandDims(0);
    const rgb = tf.image.cropAndResize(px, [[ny(y), nx(x), ny(y + h), nx(x + w)]], [0], [48, 48], "bilinear");
    return rgb.mul(tf.tensor1d([0.299, 0.587, 0.114])).sum(-1, true).round().div(255);
  });
}

export function windowCropJs(img, r, box, W, H) {
  // windowCrop's arithmetic in plain JS on the window's pixels (no tensor from the window):
  // TF.js' cropAndResize bilinear rule (index = y1·(h−1) + i·scale; lerp between floor and
  // ceil), then 0.299R + 0.587G + 0.114B, rounded, /255 → Float32Array(48·48)
  const [x, y, w, h] = box, iw = img.width, ih = img.height, d = img.data;
  const nx1 = ((x / W) * (W - 1) - r[0]) / Math.max(1, r[2] - 1), nx2 = (((x + w) / W) * (W - 1) - r[0]) / Math.max(1, r[2] - 1);
  const ny1 = ((y / H) * (H - 1) - r[1]) / Math.max(1, r[3] - 1), ny2 = (((y + h) / H) * (H - 1) - r[1]) / Math.max(1, r[3] - 1);
  const hs = ((ny2 - ny1) * (ih - 1)) / 47, ws = ((nx2 - nx1) * (iw - 1)) / 47;
  const out = new Float32Array(48 * 48), xl = new Int32Array(48), xr = new Int32Array(48), xf = new Float64Array(48);
  const xok = new Uint8Array(48);
  for (let j = 0; j < 48; j++) {
    const xi = nx1 * (iw - 1) + j * ws;
    xok[j] = xi >= 0 && xi <= iw - 1 ? 1 : 0;
    xl[j] = Math.floor(xi); xr[j] = Math.ceil(xi); xf[j] = xi - xl[j];
  }
  const gray = (i0, i1, i2, i3, fx, fy, c) => {
    const top = d[i0 + c] + (d[i1 + c] - d[i0 + c]) * fx, bot = d[i2 + c] + (d[i3 + c] - d[i2 + c]) * fx;
    return top + (bot - top) * fy;
  };
  for (let i = 0; i < 48; i++) {
    const yi = ny1 * (ih - 1) + i * hs;
    if (yi < 0 || yi > ih - 1) continue; // TF's extrapolation value: 0
    const yt = Math.floor(yi), yb = Math.ceil(yi), fy = yi - yt;
    for (let j = 0; j < 48; j++) {
      if (!xok[j]) continue;
      const i0 = (yt * iw + xl[j]) * 4, i1 = (yt * iw + xr[j]) * 4, i2 = (yb * iw + xl[j]) * 4, i3 = (yb * iw + xr[j]) * 4;
      const fx = xf[j];
      const v = Math.fround(Math.fround(0.299 * Math.fround(gray(i0, i1, i2, i3, fx, fy, 0)))
        + Math.fround(0.587 * Math.fround(gray(i0, i1, i2, i3, fx, fy, 1))) + Math.fround(0.114 * Math.fround(gray(i0, i1, i2, i3, fx, fy, 2))));
      out[i * 48 + j] = Math.round(v) / 255;
    }
  }
  return out;
}

function canvasCrop(tf, video, box) {
  // drawImage straight to 48×48 (the browser's own resampling) → gray in JS
  cg.drawImage(video, box[0], box[1], box[2], box[3], 0, 0, 48, 48);
  const d = cg.getImageData(0, 0, 48, 48).data, g = new Float32Array(48 * 48);
  for (let i = 0; i < g.length; i++) g[i] = Math.round(0.299 * d[4 * i] + 0.587 * d[4 * i + 1] + 0.114 * d[4 * i + 2]) / 255;
  return tf.tensor4d(g, [1, 48, 48, 1]);
}

// ------------------------------------------------------------------------------------ loop

export async function runTracked(video, ui) {
  const { state, tf, $ } = ui;
  const params = new URLSearchParams(location.search);
  const kParam = Number(params.get("k")) || 0;
  const cropMode = params.get("crop") || "window";
  const W = video.videoWidth, H = video.videoHeight;
  const tr = (state.track = { enabled: true, k: kParam || 2, kFixed: !!kParam, crop: cropMode, detected: 0, tracked: 0,
    redetects: 0, lost: 0, last: null, corr: null, reason: null, detect_ms: null, frame_ms: null });
  const verify = params.get("verify") === "1" ? (tr.verify = { frames: 0, faces: 0, agree: 0, iou_min: null, iou_sum: 0, crop_checks: 0, crop_maxdiff: 0 }) : null;
  let tracks = [];       // [{box, f (cell px), T (template), ox, oy (box − template cell), conf0}]
  let since = 0, lastDetectAt = -Infinity, wantDetect = "start", prevEnd = performance.now();
  const ema = (a, b, w = 0.2) => (a == null ? b : (1 - w) * a + w * b);

  const crop = (img, r, box) => (cropMode === "frame" ? ui.cropInput(video, [{ box: { x: box[0], y: box[1], width: box[2], height: box[3] } }]).input
    : cropMode === "canvas48" ? canvasCrop(tf, video, box) : cropMode === "window-tf" ? windowCrop(tf, img, r, box, W, H)
      : tf.tensor4d(windowCropJs(img, r, box, W, H), [1, 48, 48, 1]));

  function startTrack(box) {
    // the detected face's template: coarse gray cells of ~box/cell pixels, read from a window
    const f = Math.max(1, Math.round(box[2] / TRACK.cell));
    const r = windowAround(box, W, H, 0);
    const img = readWindow(video, r);
    const G = grid(img, f);
    const tw = Math.max(2, Math.min(G.w, Math.round(box[2] / f))), th = Math.max(2, Math.min(G.h, Math.round(box[3] / f)));
    const cx = Math.max(0, Math.min(G.w - tw, Math.round((box[0] - r[0]) / f)));
    const cy = Math.max(0, Math.min(G.h - th, Math.round((box[1] - r[1]) / f)));
    return { box, f, T: templateOf(G, cx, cy, tw, th), ox: box[0] - (r[0] + cx * f), oy: box[1] - (r[1] + cy * f), img, r };
  }

  function follow(t) {
    // find t's template in a window around its last box → moved box, its NCC, the window read
    const pad = Math.max(t.f, Math.ceil(TRACK.margin * t.box[2]));
    const r = windowAround(t.box, W, H, pad);
    const img = readWindow(video, r);
    const m = match(grid(img, t.f), t.T);
    const box = clampBox([r[0] + m.cx * t.f + t.ox, r[1] + m.cy * t.f + t.oy, t.box[2], t.box[3]], W, H);
    return { box, corr: m.corr, img, r };
  }

  async function verifyFrame(faces, views, source) {
    // the every-frame pipeline on this same frame: detector boxes, whole-frame crop, CNN
    const model = ui.getModel();
    if (source === "detected") { // same box: the window crop must equal the whole-frame crop
      for (const v of views) {
        // the video may show a new frame between two reads, even within one task: compare
        // only when the window crops read before and after the whole-frame one are equal
        const r = windowAround(v.box, W, H, 0);
        const win = () => tf.tensor4d(cropMode === "window-tf" ? tf.tidy(() => windowCrop(tf, readWindow(video, r), r, v.box, W, H)).dataSync()
          : windowCropJs(readWindow(video, r), r, v.box, W, H), [1, 48, 48, 1]);
        const a = win();
        const b = ui.cropInput(video, [{ box: { x: v.box[0], y: v.box[1], width: v.box[2], height: v.box[3] } }]).input;
        const a2 = win();
        const [same, d] = tf.tidy(() => [a.sub(a2).abs().max(), a.sub(b).abs().max()]);
        if ((await same.data())[0] === 0) {
          verify.crop_checks += 1;
          verify.crop_maxdiff = Math.max(verify.crop_maxdiff, (await d.data())[0]);
        }
        for (const x of [a, b, a2, same, d]) x.dispose();
      }
      return;
    }
    const dets = await faceapi.detectAllFaces(video, ui.detectorOpts);
    verify.frames += 1;
    for (const f of faces) {
      verify.faces += 1;
      const iouOf = (d) => iou(f.box, [d.box.x, d.box.y, d.box.width, d.box.height]);
      const d = dets.reduce((a, b) => (!a || iouOf(b) > iouOf(a) ? b : a), null);
      if (!d) { verify.iou_min = 0; continue; }
      const o = iouOf(d);
      verify.iou_sum += o;
      verify.iou_min = verify.iou_min == null ? o : Math.min(verify.iou_min, o);
      const { input } = ui.cropInput(video, [d]);
      const out = model.predict(input);
      const p = await out.data();
      input.dispose(); out.dispose();
      const names = ui.classNames();
      const best = names[p.indexOf(Math.max(...p))];
      if (best === f.emotion) verify.agree += 1;
    }
  }

  window.hlTrack.crops = { // each crop path on the current frame and box, for side-by-side timing
    window: (box) => { const r = windowAround(box, W, H, 0); return tf.tensor4d(windowCropJs(readWindow(video, r), r, box, W, H), [1, 48, 48, 1]); },
    "window-tf": (box) => { const r = windowAround(box, W, H, 0); return windowCrop(tf, readWindow(video, r), r, box, W, H); },
    canvas48: (box) => canvasCrop(tf, video, box),
    frame: (box) => ui.cropInput(video, [{ box: { x: box[0], y: box[1], width: box[2], height: box[3] } }]).input,
  };

  state.ready = true;
  for (;;) {
    const model = ui.getModel();
    if (!model) { await new Promise((r) => setTimeout(r, 100)); continue; }
    const t0 = performance.now();
    if (!tr.kFixed && tr.detect_ms != null && tr.frame_ms != null) tr.k = cadenceK(tr.detect_ms, tr.frame_ms);
    if (!wantDetect && !tracks.length) wantDetect = "no face";
    if (!wantDetect && since >= tr.k) wantDetect = "every k";
    if (!wantDetect && t0 - lastDetectAt > TRACK.maxAgeMs) wantDetect = "max age";
    let views = null, tTrack = 0, corr = null;
    if (!wantDetect) {
      views = tracks.map(follow);
      tTrack = performance.now() - t0;
      corr = Math.min(...views.map((v) => v.corr));
      tr.corr = corr;
      if (corr < TRACK.minCorr) { wantDetect = "lost"; tr.lost += 1; views = null; }
    }
    let detectMs = 0;
    const source = views ? "tracked" : "detected";
    if (!views) {
      tr.reason = wantDetect;
      if (wantDetect === "lost" || wantDetect === "confidence") tr.redetects += 1;
      const d0 = performance.now();
      let dets = [];
      try { dets = await faceapi.detectAllFaces(video, ui.detectorOpts); } catch (e) { console.warn("detect failed", e); }
      detectMs = performance.now() - d0;
      state.timeline.first_detect ??= Math.round(performance.now());
      if (tr.detected) tr.detect_ms = ema(tr.detect_ms, detectMs); // not the first: it includes warm-up
      const s0 = performance.now();
      tracks = dets.map((d) => startTrack(clampBox([d.box.x, d.box.y, d.box.width, d.box.height], W, H)));
      tTrack = performance.now() - s0;
      views = tracks.map((t) => ({ box: t.box, corr: 1, img: t.img, r: t.r }));
      for (const t of tracks) { t.img = t.r = null; }
      since = 0; lastDetectAt = performance.now(); tr.detected += 1;
    } else { since += 1; tr.tracked += 1; }
    wantDetect = null;
    tr.last = source;
    // crop + CNN on every kept face (one batch)
    const c0 = performance.now();
    let faces = [], cropMs = 0, cnnMs = 0;
    if (views.length) {
      const inputs = views.map((v) => crop(v.img, v.r, v.box));
      const input = inputs.length === 1 ? inputs[0] : tf.concat(inputs);
      if (inputs.length > 1) inputs.forEach((x) => x.dispose());
      const c1 = performance.now();
      const out = model.predict(input);
      const probs = await out.data();
      input.dispose(); out.dispose();
      cropMs = c1 - c0; cnnMs = performance.now() - c1;
      const names = ui.classNames(), n = names.length;
      faces = views.map((v, i) => {
        const p = {};
        let best = 0;
        for (let j = 0; j < n; j++) { p[names[j]] = probs[i * n + j]; if (probs[i * n + j] > probs[i * n + best]) best = j; }
        const top = probs[i * n + best], t = tracks[i];
        if (source === "detected") t.conf0 = top;
        else if (top < TRACK.confDrop * t.conf0) wantDetect = "confidence";
        t.box = v.box;
        return { box: v.box.map((x) => Math.round(x)), emotion: names[best], probs: p, source, corr: v.corr };
      });
    }
    const t2 = performance.now();
    if (verify && faces.length) await verifyFrame(faces, views, source);
    const d0 = performance.now();
    ui.draw(video, faces);
    ui.showResult(faces);
    const drawMs = performance.now() - d0, total = performance.now() - t0;
    if (source === "tracked") tr.frame_ms = ema(tr.frame_ms, total);
    ui.showStages({ detect: detectMs, track: tTrack, crop: cropMs, cnn: cnnMs, total: t2 - t0, backend: state.backend,
      source, k: tr.k, detect_every: tr.detect_ms, draw: drawMs, gap: t0 - prevEnd });
    prevEnd = performance.now();
    $("track-k").textContent = `${tr.k}${tr.kFixed ? " (fixed)" : ""} · ${source}`;
    $("track-ratio").textContent = `${tr.tracked} / ${tr.detected}` + (tr.redetects ? ` · ${tr.redetects} re-detect${tr.redetects > 1 ? "s" : ""}` : "");
    if (faces.length && state.first_prediction_ms == null) state.first_prediction_ms = performance.now();
    ui.tickFps();
    if (!state.modelError && !state.cameraError) ui.setMessage(faces.length ? "" : "No face found: look at the camera.", faces.length ? "info" : "warn");
    await new Promise((r) => requestAnimationFrame(r));
  }
}

window.hlTrack = { TRACK, cadenceK, grid, templateOf, match, windowAround }; // tests check the pieces
