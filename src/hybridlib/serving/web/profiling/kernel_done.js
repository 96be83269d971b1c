// Disposes the prepared chunk -> the number of tensors it left behind (0 = memory flat).
() => {
  const c = window.__hlkChunk;
  if (!c) return 0;
  c.ks.forEach(k => k.dispose());
  window.__hlkChunk = null;
  return tf.memory().numTensors - c.before;
}
