// Loads /model/<name>/model.json into window.__hlProfModel before any CPU throttling; every request
// retried (RETRY_FETCH is replaced by retry_fetch.js), the whole load a few times on top.
// Returns the number of retried requests.
async (name) => {
  const retryFetch = RETRY_FETCH;
  for (let attempt = 0; ; attempt++) {
    try {
      window.__hlProfModel = await tf.loadLayersModel(`/model/${name}/model.json`, {fetchFunc: retryFetch});
      return window.__hlFetchRetries || 0;
    } catch (e) { if (attempt >= 3) throw e; await new Promise(r => setTimeout(r, 3000)); }
  }
}
