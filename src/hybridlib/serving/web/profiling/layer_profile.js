// Per-layer TF.js timing of window.__hlProfModel: each layer alone on the activations it sees, then
// the whole model and the prefix (head) sub-models in interleaved rounds.
async ([name, repeats, warmup, probeNames]) => {
  const model = window.__hlProfModel || await tf.loadLayersModel(`/model/${name}/model.json`);
  const layers = model.layers;
  const probe = tf.model({inputs: model.inputs, outputs: layers.map(l => l.output)});
  const shape = model.inputs[0].shape.map(d => d === null ? 1 : d);
  const x = tf.randomUniform(shape);
  const acts = probe.predict(x);
  const byName = {};
  layers.forEach((l, i) => { byName[l.name] = acts[i]; });
  const rows = [];
  for (const l of layers) {
    const inb = l.inboundNodes.length ? l.inboundNodes[0].inboundLayers.map(p => p.name) : [];
    if (l.getClassName() === 'InputLayer' || inb.length === 0) {
      rows.push({layer: l.name, ms: 0, ms_all: [0]}); continue;
    }
    const arg = inb.length === 1 ? byName[inb[0]] : inb.map(n => byName[n]);
    const once = () => { const y = l.apply(arg, {training: false}); y.dataSync(); y.dispose(); };
    // performance.now() is coarsened to 0.1 ms in a non-isolated page: time `inner` calls
    // per sample for layers faster than ~2 ms so the median is not quantised to 0 or 0.1
    const f0 = performance.now(); once(); const first = performance.now() - f0;
    const inner = Math.max(1, Math.min(20, Math.ceil(2 / Math.max(first, 0.05))));
    for (let i = 0; i < warmup; i++) once();
    const ts = [];
    for (let i = 0; i < repeats; i++) {
      const s = performance.now(); for (let j = 0; j < inner; j++) once();
      ts.push((performance.now() - s) / inner);
    }
    const sorted = ts.slice().sort((a, b) => a - b);
    const m = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]
      : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
    rows.push({layer: l.name, ms: m, ms_all: ts});
  }
  // the whole model and the prefix (head) sub-models, interleaved round by round
  const runners = [model, ...(probeNames || []).map(
    n => tf.model({inputs: model.inputs, outputs: model.getLayer(n).output}))];
  const tt = runners.map(() => []);
  for (let i = 0; i < warmup + repeats; i++) {
    runners.forEach((m, j) => {
      const s = performance.now(); const y = m.predict(x); y.dataSync(); y.dispose();
      if (i >= warmup) tt[j].push(performance.now() - s);
    });
  }
  const med = a => { const b = a.slice().sort((p, q) => p - q); const h = b.length >> 1;
    return b.length % 2 ? b[h] : (b[h - 1] + b[h]) / 2; };
  acts.forEach(a => a.dispose()); x.dispose();
  return {backend: tf.getBackend(), rows, model_ms: med(tt[0]),
          probe_ms: tt.slice(1).map(med)};
}
