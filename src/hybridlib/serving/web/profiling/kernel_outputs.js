// [cfgs, weights, inputs, runtime] -> each kernel's output [{shape, b64}] (correctness checks).
async ([cfgs, weights, inputs, runtime]) => {
  const out = [];
  for (let i = 0; i < cfgs.length; i++) {
    const k = hlk.build(cfgs[i], runtime, weights[i], inputs[i]);
    const y = k.out();
    out.push({shape: y.shape, b64: hl.f32ToB64(await y.data())});
    y.dispose(); k.dispose();
  }
  return out;
}
