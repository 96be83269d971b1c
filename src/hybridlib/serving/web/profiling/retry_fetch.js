// One fetch with retries and the body read before it resolves: TF.js's fetchFunc for model loads
// (see hybridlib.profiling.tfjs_layers for why). page.evaluate() gets this function expression.
async (url, init) => {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await fetch(url, init);
      if (r.ok || r.status < 500 || attempt >= 8) {
        const body = await r.arrayBuffer();  // read now: frees the connection, and a body cut
        return new Response(body, {status: r.status, statusText: r.statusText, headers: r.headers});
      }
    } catch (e) { if (attempt >= 8) throw e; }
    window.__hlFetchRetries = (window.__hlFetchRetries || 0) + 1;
    await new Promise(res => setTimeout(res, Math.min(4000, 250 * 2 ** attempt)));
  }
}
