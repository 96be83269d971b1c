// Times the prepared chunk [repeats, targetMs, maxKernelMs, rate] -> {times, inner}; kernel 0 is the
// identity (the fixed per-call cost).
async ([repeats, targetMs, maxKernelMs, rate]) => {
  const t0 = performance.now();
  const {ks, per} = window.__hlkChunk;
  const CAP = 100000;
  const timeN = (run, n) => { const s = performance.now(); for (let j = 0; j < n; j++) run(); return performance.now() - s; };
  const inner = [], reps = [];
  for (let i = 0; i < ks.length; i++) {
    // autorange: n calls must last >= targetMs (the clock ticks in 0.1 ms; the throttler's
    // duty cycle is sub-ms); seeded from the unthrottled warmup, checked throttled
    const est = per[i] * rate;
    let n = est >= 0.5 ? Math.max(1, Math.ceil(targetMs / est)) : 1;
    if (est < targetMs) {
      for (let g = 0; g < 30 && n < CAP; g++) {
        const t = timeN(ks[i].run, n);
        if (t >= targetMs) break;
        n = Math.min(CAP, t > 0.2 ? Math.ceil(n * 1.25 * targetMs / t) : n * 8);
      }
    }
    inner.push(n);
    reps.push(Math.max(Math.min(3, repeats), Math.min(repeats, Math.floor(maxKernelMs / Math.max(targetMs, est)))));
  }
  const t1 = performance.now();
  const times = ks.map(() => []);
  for (let r = 0; r < repeats; r++) {
    for (let i = 0; i < ks.length; i++) {
      if (r >= reps[i]) continue;
      // a sample far shorter than targetMs (the autorange stopped on a throttling stall)
      // is quantised by the clock: grow inner and take it again
      let t = timeN(ks[i].run, inner[i]);
      while (t < targetMs / 2 && inner[i] < CAP) {
        inner[i] = Math.min(CAP, inner[i] * (t > 0.2 ? Math.ceil(targetMs / t) : 8));
        t = timeN(ks[i].run, inner[i]);
      }
      times[i].push(t / inner[i]);
    }
  }
  return {times, inner, calib_ms: t1 - t0, rounds_ms: performance.now() - t1};
}
