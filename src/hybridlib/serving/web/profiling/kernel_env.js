// The page's TF.js backend, version and wasm features (provenance of every browser timing).
async () => ({backend: tf.getBackend(), tfjs: tf.version.tfjs,
              wasm_simd: tf.getBackend() === 'wasm' ? await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT') : null,
              wasm_threads: tf.getBackend() === 'wasm' ? await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT') : null})
