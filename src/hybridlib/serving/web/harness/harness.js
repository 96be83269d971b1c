// window.hl: load TF.js models by name, predict on flat Float32 data, time runs. Used through
// page.evaluate by parity checks, browser benchmarks and per-layer profiling (hybridlib.browser).
window.hl = {
  models: {},
  async setBackend(name) {
    if (name === 'wasm') tf.wasm.setWasmPaths('/vendor/tfjs-backend-wasm/');
    const ok = await tf.setBackend(name);
    await tf.ready();
    if (!ok || tf.getBackend() !== name) throw new Error('backend ' + name + ' unavailable');
    return tf.getBackend();
  },
  async load(name, url) {
    const t0 = performance.now();
    const m = await tf.loadLayersModel(url || ('/model/' + name + '/model.json'));
    const t1 = performance.now();
    this.models[name] = m;
    return {load_ms: t1 - t0, inputs: m.inputs.map(i => i.shape), outputs: m.outputs.map(o => o.shape),
            layers: m.layers.map(l => l.name)};
  },
  b64ToF32(b64) {
    const bin = atob(b64); const u8 = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
    return new Float32Array(u8.buffer);
  },
  f32ToB64(f32) {
    const u8 = new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength); let s = '';
    for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
    return btoa(s);
  },
  _inputs(m, flats, shapes) {
    // flats: one entry per model input (a single entry allowed): a flat number array or a
    // base64 string of little-endian float32 (fast: no per-number JSON); shapes: matching
    if (typeof flats === 'string' || !(Array.isArray(flats[0]) || typeof flats[0] === 'string')) {
      flats = [flats]; shapes = [shapes];
    }
    return flats.map((f, i) => tf.tensor(typeof f === 'string' ? this.b64ToF32(f) : Float32Array.from(f),
                                         shapes[i], 'float32'));
  },
  async predict(name, flats, shapes) {
    const m = this.models[name];
    const xs = this._inputs(m, flats, shapes);
    let y = m.predict(xs.length === 1 ? xs[0] : xs);
    const ys = Array.isArray(y) ? y : [y];
    const out = [];
    for (const t of ys) out.push({shape: t.shape, b64: this.f32ToB64(await t.data())});
    xs.forEach(t => t.dispose()); ys.forEach(t => t.dispose());
    return out;
  },
  async chain(head, tail, flats, shapes) {
    // head model's outputs (the cut set, in order) fed straight into the tail model
    const xs = this._inputs(this.models[head], flats, shapes);
    const h = this.models[head].predict(xs.length === 1 ? xs[0] : xs);
    const y = this.models[tail].predict(h);
    const b64 = this.f32ToB64(await y.data());
    const shape = y.shape;
    tf.dispose([xs, h, y]);
    return {shape, b64};
  },
  unload(name) { if (this.models[name]) { this.models[name].dispose(); delete this.models[name]; } },
  async time(name, shape, runs, warmup, budgetMs, minRuns) {
    // ms per call of predict on a random input (data() awaited, so the work is done); with
    // budgetMs, stop early once minRuns (10) runs are done and together took longer than it
    const m = this.models[name];
    const x = tf.randomUniform(shape, 0, 1, 'float32');
    const once = async () => { const y = m.predict(x); await (Array.isArray(y) ? y[0] : y).data();
                               tf.dispose(y); };
    const t0 = performance.now(); await once(); const first = performance.now() - t0;
    for (let i = 0; i < (warmup || 2); i++) await once();
    const times = [];
    let spent = 0;
    for (let i = 0; i < runs; i++) {
      if (budgetMs && times.length >= (minRuns || 10) && spent > budgetMs) break;
      const s = performance.now(); await once(); times.push(performance.now() - s); spent += times[i];
    }
    x.dispose();
    return {backend: tf.getBackend(), first_ms: first, times_ms: times};
  },
};
