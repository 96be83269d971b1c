// POST n bytes / GET n bytes against the /probe/* routes; ms from the page's clock.
async ([base, up, down, reps]) => {
  const out = [];
  for (const [kind, n] of up.map(n => ['up', n]).concat(down.map(n => ['down', n]))) {
    for (let r = 0; r < reps; r++) {
      const body = kind === 'up' ? new Uint8Array(n) : undefined;
      const url = kind === 'up' ? `${base}/probe/upload?r=${Math.random()}`
                                : `${base}/probe/download?bytes=${n}&r=${Math.random()}`;
      const t0 = performance.now();
      const resp = await fetch(url, {method: kind === 'up' ? 'POST' : 'GET', body, cache: 'no-store'});
      const buf = await resp.arrayBuffer();
      const ms = performance.now() - t0;
      if (!resp.ok) throw new Error(`probe ${url} → ${resp.status}`);
      out.push({kind, bytes: n, ms, got: buf.byteLength});
    }
  }
  return out;
}
