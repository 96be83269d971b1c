// A fixed amount of integer work (xorshift + modulo): ms for n iterations measures the page's CPU speed.
(n) => {
  const t0 = performance.now();
  let x = 123456789, acc = 0;
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; acc = (acc + (x >>> 0) % 1009) | 0; }
  const ms = performance.now() - t0;
  return {ms, acc};
}
