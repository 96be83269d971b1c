// The /split wire contract on the page side, shared by the app (app.js split mode, exit.js) and the
// split execution page (split.js): one encoder, one compressor, one timing reader, one entropy.
//
// Wire contract (docs/ARCHITECTURE.md, Serving contract): raw little-endian tensor bytes, headers X-Shape, X-Dtype
// float32|float16|uint8 (uint8 adds X-Scale, X-Zero-Point: q = round(x/scale) + zero_point),
// X-Codec none|zlib (zlib = CompressionStream('deflate'), RFC 1950).

// ----------------------------------------------------------------------------- encoding

const f32b = new Float32Array(1);
const u32b = new Uint32Array(f32b.buffer);

// IEEE binary32 → binary16 bits, round to nearest even (what numpy's astype(float16) does)
export function toHalf(v) {
  f32b[0] = v;
  const x = u32b[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

export function encode(data, dtype) {
  // → {bytes: Uint8Array, headers}
  if (dtype === "float32") return {bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), headers: {}};
  if (dtype === "float16") {
    const out = new Uint16Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = toHalf(data[i]);
    return {bytes: new Uint8Array(out.buffer), headers: {}};
  }
  if (dtype === "uint8") {
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < data.length; i++) { const v = data[i]; if (v < lo) lo = v; if (v > hi) hi = v; }
    // a constant tensor takes the step |lo|/255 so it decodes exactly (as wire.py's quantize_uint8)
    const scale = (hi - lo) / 255 || Math.abs(lo) / 255 || 1;
    const zero = Math.round(-lo / scale);
    const out = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const q = Math.round(data[i] / scale) + zero;
      out[i] = q < 0 ? 0 : q > 255 ? 255 : q;
    }
    return {bytes: out, headers: {"X-Scale": String(scale), "X-Zero-Point": String(zero)}};
  }
  throw new Error(`dtype ${dtype} not supported (float32|float16|uint8)`);
}

export async function compress(bytes, codec) {
  if (codec === "none") return bytes;
  if (codec === "zlib") {
    const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }
  throw new Error(`codec ${codec} not supported in the page (none|zlib)`);
}

export async function timingOf(url) {
  // the entry is queued when the response ends; give the timeline a few turns to catch up
  for (let i = 0; i < 50; i++) {
    const es = performance.getEntriesByName(url);
    if (es.length) return es[es.length - 1];
    await new Promise((r) => setTimeout(r, 0));
  }
  return null;
}

export function argmax(a) { let k = 0; for (let i = 1; i < a.length; i++) if (a[i] > a[k]) k = i; return k; }

// Normalised Shannon entropy -Σ p ln p / ln K ∈ [0, 1] (0·ln 0 = 0): hybridlib.study.early_exit.branches.entropy.
export function entropy(p) {
  let h = 0;
  for (let i = 0; i < p.length; i++) if (p[i] > 0) h -= p[i] * Math.log(p[i]);
  return Math.min(1, Math.max(0, h / Math.log(p.length)));
}
