// window.hlk: builds one fused kernel from its configuration (and optional Keras weights) in the
// 'layers' or 'graph' runtime; build() returns {run, out, dispose}. Installed once per page.
() => {
  const constInit = () => tf.initializers.constant({value: 0.01});
  const dec = w => tf.tensor(hl.b64ToF32(w.b64), w.shape, 'float32');
  const inShapes = c => {
    const t = c.kernel_type, h = c.h, w = c.w, ci = c.c_in;
    if (t.startsWith('fc')) return [[1, ci]];
    if (t === 'concat') {
      const m = c.n_inputs;
      return Array.from({length: m}, (_, i) => [1, h, w, Math.floor(ci / m) + (i < ci % m ? 1 : 0)]);
    }
    if (t.startsWith('add')) return [[1, h, w, ci], [1, h, w, ci]];
    return [[1, h, w, ci]];
  };
  const layersOf = c => {
    const t = c.kernel_type, L = tf.layers, k = c.kernel, s = c.stride, pad = c.padding;
    const init = {kernelInitializer: constInit(), biasInitializer: constInit()};
    const bn = () => L.batchNormalization({axis: -1, epsilon: 1e-3});
    if (t.startsWith('conv')) {
      const ls = [L.conv2d({filters: c.c_out, kernelSize: k, strides: s, padding: pad,
                            activation: t === 'conv-relu' ? 'relu' : 'linear', ...init})];
      if (t.includes('-bn')) ls.push(bn());
      if (t === 'conv-bn-relu') ls.push(L.reLU());
      return ls;
    }
    if (t.startsWith('fc')) return [L.dense({units: c.c_out, activation: t === 'fc-relu' ? 'relu' : 'softmax', ...init})];
    if (t === 'maxpool') return [L.maxPooling2d({poolSize: k, strides: s, padding: pad})];
    if (t === 'avgpool') return [L.averagePooling2d({poolSize: k, strides: s, padding: pad})];
    if (t === 'global-avgpool') return [L.globalAveragePooling2d({})];
    if (t === 'bn') return [bn()];
    if (t === 'bn-relu') return [bn(), L.reLU()];
    if (t === 'relu') return [L.reLU()];
    if (t === 'concat') return [L.concatenate({axis: -1})];
    if (t === 'add') return [L.add()];
    if (t === 'add-relu') return [L.add(), L.reLU()];
    throw new Error('unknown kernel type ' + t);
  };
  const buildLayers = (c, xs, ws) => {
    const ls = layersOf(c);
    const chain = () => { let y = xs.length === 1 ? xs[0] : xs; for (const l of ls) y = l.apply(y); return y; };
    tf.tidy(() => { chain(); });  // builds every layer (weights from the initialisers)
    if (ws) {
      let i = 0;
      for (const l of ls) {
        const n = l.weights.length;
        if (n) { const part = ws.slice(i, i + n).map(dec); l.setWeights(part); tf.dispose(part); i += n; }
      }
      if (i !== ws.length) throw new Error(`${c.kernel_type}: ${ws.length} weights given, ${i} used`);
    }
    return {chain, warmed: true, dispose: () => ls.forEach(l => l.disposeWeights())};
  };
  const buildGraph = (c, xs, ws) => {
    // the ops a converted graph model runs (module docstring); BN folded as the converter does
    const t = c.kernel_type, k = c.kernel, s = c.stride, pad = c.padding;
    const keep = [];
    const hold = x => { keep.push(x); return x; };
    const w = ws ? ws.map(dec) : null;
    const bnFold = (g, b, m, v) => tf.tidy(() => {
      const scale = g.div(v.add(1e-3).sqrt());
      return [scale, b.sub(m.mul(scale))];
    });
    let chain;
    if (t.startsWith('conv')) {
      let filter = w ? w[0] : tf.fill([k, k, c.c_in, c.c_out], 0.01);
      let bias = w ? w[1] : tf.fill([c.c_out], 0.01);
      if (t.includes('-bn') && w) {
        const [scale, offset] = bnFold(w[2], w[3], w[4], w[5]);
        const f2 = filter.mul(scale), b2 = bias.mul(scale).add(offset);
        tf.dispose([scale, offset]); filter = f2; bias = b2;
      }
      hold(filter); hold(bias);
      const act = t.endsWith('relu') ? 'relu' : 'linear';
      chain = () => tf.fused.conv2d({x: xs[0], filter, strides: s, pad, bias, activation: act});
    } else if (t.startsWith('fc')) {
      const b = hold(w ? w[0] : tf.fill([c.c_in, c.c_out], 0.01));
      const bias = hold(w ? w[1] : tf.fill([c.c_out], 0.01));
      chain = t === 'fc-relu' ? () => tf.fused.matMul({a: xs[0], b, bias, activation: 'relu'})
        : () => tf.softmax(tf.fused.matMul({a: xs[0], b, bias}));
    } else if (t.startsWith('bn')) {
      let scale, offset;
      if (w) [scale, offset] = bnFold(w[0], w[1], w[2], w[3]);
      else { scale = tf.fill([c.c_in], 0.9); offset = tf.fill([c.c_in], 0.01); }
      hold(scale); hold(offset);
      chain = t === 'bn-relu' ? () => tf.relu(tf.add(tf.mul(xs[0], scale), offset))
        : () => tf.add(tf.mul(xs[0], scale), offset);
    } else if (t === 'maxpool') chain = () => tf.maxPool(xs[0], k, s, pad);
    else if (t === 'avgpool') chain = () => tf.avgPool(xs[0], k, s, pad);
    else if (t === 'global-avgpool') chain = () => tf.mean(xs[0], [1, 2]);
    else if (t === 'relu') chain = () => tf.relu(xs[0]);
    else if (t === 'concat') chain = () => tf.concat(xs, 3);
    else if (t === 'add') chain = () => tf.add(xs[0], xs[1]);
    else if (t === 'add-relu') chain = () => tf.relu(tf.add(xs[0], xs[1]));
    else throw new Error('unknown kernel type ' + t);
    if (w) w.forEach(x => { if (!keep.includes(x)) x.dispose(); });
    return {chain, dispose: () => tf.dispose(keep)};
  };
  window.hlk = {
    inShapes,
    // cfg: one kernel configuration; runtime: 'layers' | 'graph'; ws: Keras weights
    // [{shape, b64}] in get_weights() order or null; xs: inputs [{shape, b64}] or null (random)
    build(cfg, runtime, ws, xs) {
      const inputs = xs ? xs.map(dec) : inShapes(cfg).map(s => tf.randomUniform(s));
      let k;
      try { k = (runtime === 'graph' ? buildGraph : buildLayers)(cfg, inputs, ws); }
      catch (e) { tf.dispose(inputs); throw e; }
      return {
        warmed: !!k.warmed,  // layers: building ran the kernel once (a warmup call)
        run: () => { tf.tidy(() => { k.chain(); }); },
        out: () => tf.tidy(() => k.chain()),
        dispose: () => { k.dispose(); tf.dispose(inputs); },
      };
    },
    identity() {
      const x = tf.randomUniform([1, 8]);
      return {run: () => { tf.tidy(() => { x.clone(); }); }, dispose: () => x.dispose()};
    },
  };
  return true;
}
