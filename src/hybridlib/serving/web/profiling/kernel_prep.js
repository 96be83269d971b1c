// Builds one chunk [cfgs, runtime, warmup] and runs its warmup calls unthrottled; keeps it as
// window.__hlkChunk. per (ms per call, fastest warmup call) seeds the throttled autorange.
async ([cfgs, runtime, warmup]) => {
  const t0 = performance.now();
  const before = tf.memory().numTensors;
  const ks = [hlk.identity()];
  const chunk = {ks, before, per: []};
  window.__hlkChunk = chunk;
  for (const c of cfgs) ks.push(hlk.build(c, runtime, null, null));
  for (const k of ks) {
    let per = Infinity;
    for (let i = k.warmed ? 1 : 0; i < Math.max(k.warmed ? 2 : 1, warmup); i++) {
      const s = performance.now(); k.run(); per = Math.min(per, performance.now() - s);
    }
    chunk.per.push(per);
  }
  return {prep_ms: performance.now() - t0};
}
