"""Fused kernels in TF.js (wasm, throttled Chromium): cost of a corpus run and faithfulness.

    .venv/bin/python benchmarks/bench_kernels_tfjs.py [--throttle 4] [--per-family 60]
        [--runtime layers] [--faith-rounds 2]

1. times ``--per-family`` random kernels of each family (emotion, alexnet) plus the emotion
   CNN's and AlexNet's own kernels (:func:`kernels_tfjs.profile_kernels_tfjs`) and prints the
   wall time of that call — the cost the study pays for the browser side of the corpus;
2. faithfulness: Σ of the emotion CNN's kernel ``ms`` against its whole-model TF.js time at
   the same throttle (:func:`tfjs_layers.profile_tfjs`'s ``model_ms``), alternated
   ``--faith-rounds`` times so drift on a shared machine shows up as spread, not bias;
3. the same ratio *in one page*: the exported model (``predict`` + ``dataSync``) and the
   kernels built by :mod:`kernels_tfjs`, each autoranged to ≥ 3 ms samples, alternated in
   rounds — two sessions minutes apart differ by more than the effect being checked.

Prints ``uptime``'s load with every number: on 2 shared cores the throttled timings move
by tens of percent with foreign load.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


#: per round: Σ over kernels of ms/call (each autoranged to ≥ 3 ms) and the model's ms/call
INPAGE_JS = r"""
async ([cfgs, runtime, rounds]) => {
  const model = await tf.loadLayersModel('/model/m/model.json');
  const x = tf.randomUniform([1, ...model.inputs[0].shape.slice(1)]);
  const ks = cfgs.map(c => hlk.build(c, runtime, null, null));
  const auto = f => { let n = 1, t; for (;;) { const s = performance.now();
    for (let i = 0; i < n; i++) f(); t = performance.now() - s; if (t >= 3) return t / n; n *= 4; } };
  const pred = () => { const y = model.predict(x); y.dataSync(); y.dispose(); };
  for (let i = 0; i < 2; i++) { ks.forEach(k => k.run()); pred(); }
  const out = {kernels: [], model: []};
  for (let r = 0; r < rounds; r++) {
    out.kernels.push(ks.reduce((a, k) => a + auto(k.run), 0));
    out.model.push(auto(pred));
  }
  ks.forEach(k => k.dispose()); x.dispose(); model.dispose();
  return out;
}
"""


def in_page_ratio(model, throttle: float, runtime: str, rounds: int = 7) -> tuple[float, float, float]:
    """(median Σ kernel ms, median model ms, median per-round ratio) in one throttled page."""
    import tempfile
    from pathlib import Path

    from hybridlib import browser, export
    from hybridlib.profiling import devices, kernels, kernels_tfjs

    cfgs = [kernels_tfjs.clean_config(c) for c in kernels.kernel_table(model).to_dict("records")]
    with tempfile.TemporaryDirectory(prefix="bench-ktfjs-") as td:
        export.export_tfjs(model, Path(td) / "m")
        with browser.tfjs_session({"m": Path(td) / "m"}, timeout_s=600) as (page, _url):
            kernels_tfjs.open_page(page)  # same page set-up as the corpus
            devices.set_cpu_throttle(page, throttle)
            r = page.evaluate(INPAGE_JS, [cfgs, runtime, rounds])
    ratios = [k / m for k, m in zip(r["kernels"], r["model"])]
    return statistics.median(r["kernels"]), statistics.median(r["model"]), statistics.median(ratios)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--throttle", type=float, default=4.0)
    ap.add_argument("--per-family", type=int, default=60)
    ap.add_argument("--runtime", default="layers", choices=("layers", "graph"))
    ap.add_argument("--faith-rounds", type=int, default=2)
    ap.add_argument("--skip-corpus", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from hybridlib import browser, models
    from hybridlib.profiling import kernels, kernels_tfjs, tfjs_layers

    print(f"# {browser.chromium_version()} · {args.throttle:g}× throttle · {args.runtime} runtime · "
          f"{os.cpu_count()} cores")
    if not args.skip_corpus:
        cfgs: list[dict] = []
        for i, fam in enumerate(("emotion", "alexnet")):
            cfgs += [{**c, "source": f"{fam}-family"}
                     for c in kernels.random_kernel_configs(args.per_family, fam, seed=i)]
        for net, build in (("emotion_cnn", models.emotion_cnn), ("alexnet", models.alexnet)):
            cfgs += [{**r, "source": net} for r in kernels.kernel_table(build(), net).to_dict("records")]
        before = _load()
        t0 = time.perf_counter()
        df = kernels_tfjs.profile_kernels_tfjs(cfgs, cpu_throttle=args.throttle, runtime=args.runtime)
        secs = time.perf_counter() - t0
        df["source"] = [cfgs[r]["source"] for r in df["row"]]
        print(f"corpus: {len(cfgs)} kernels in {secs:.1f} s (load {before} → {_load()}); "
              f"median ms/ms_min {float((df.ms / df.ms_min.clip(lower=1e-6)).median()):.2f}, "
              f"leaked tensors {int(df.leaked_tensors.max())}")
        for src, g in df.groupby("source", sort=False):
            print(f"  {src:15s} {len(g):4d} kernels  Σ ms {g.ms.sum():9.1f}  Σ ms_min {g.ms_min.sum():9.1f}")

    m = models.emotion_cnn()
    kcfgs = kernels.kernel_table(m, "emotion_cnn").to_dict("records")
    ratios = []
    for r in range(args.faith_rounds):
        kd = kernels_tfjs.profile_kernels_tfjs(kcfgs, cpu_throttle=args.throttle, runtime=args.runtime)
        pr = tfjs_layers.profile_tfjs(m, repeats=7, warmup=2, cpu_throttle=args.throttle)
        model_ms = float(pr["model_ms"].iloc[0])
        ratios.append(kd.ms.sum() / model_ms)
        print(f"faithfulness [{r}]: Σ kernel ms {kd.ms.sum():.1f} (Σ ms_min {kd.ms_min.sum():.1f}) / "
              f"model_ms {model_ms:.1f} = {ratios[-1]:.2f}  (load {_load()})")
    if ratios:
        print(f"faithfulness: median Σ kernel ms / model_ms = {statistics.median(ratios):.2f} "
              f"over {len(ratios)} round(s)")
    k_ms, m_ms, ratio = in_page_ratio(m, args.throttle, args.runtime)
    print(f"faithfulness in one page: Σ kernel ms {k_ms:.1f} / model ms {m_ms:.1f}; median per-round "
          f"ratio {ratio:.2f}  (load {_load()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
