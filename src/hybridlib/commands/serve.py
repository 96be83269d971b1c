"""``hybridlib serve``: the browser app in hybrid or cloud mode (DESIGN.md §6)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="serve the emotion app (hybrid: model runs in the browser; cloud: WebRTC)",
        description="Serve the emotion app. hybrid: the page downloads TF.js, the face detector "
                    "and the CNN once and infers in the browser; POST /split/<layer> runs the "
                    "CNN's tail on a posted tensor. cloud: the page streams the camera over "
                    "WebRTC and the server answers on the 'results' data channel. GET /metrics "
                    "reports sessions, frames, latency, CPU and bytes.")
    p.add_argument("--mode", choices=["hybrid", "cloud"], default="hybrid")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--max-sessions", type=int, default=4, help="cloud mode: concurrent peers (503 beyond)")
    p.add_argument("--pipeline", choices=["ours", "seed"], default="ours",
                   help="cloud mode: our batched pipeline or the seed's per-frame one")
    p.add_argument("--model", help="tf_keras .h5 (default: the quick preset's trained model, trained if missing)")
    p.add_argument("--models-dir", help="TF.js variants folder (<variant>/model.json); default: exported "
                                        "next to --model")
    p.add_argument("--preset", default="quick", help="preset whose trained model is the default")
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    import logging

    from aiohttp import web

    from hybridlib import serve
    from hybridlib.utils import InputError

    log = logging.getLogger("hybridlib.serve")
    if not 0 <= args.port <= 65535:
        raise InputError(f"--port {args.port} out of range 0..65535")
    model = args.model
    if model is None:
        from hybridlib import config, train

        model = str(train.ensure_model(config.context(args.preset)))
    models_dir = args.models_dir
    if models_dir is None and args.mode == "hybrid":
        models_dir = str(serve.ensure_tfjs(model))
    app = serve.make_app(args.mode, model_path=model, models_dir=models_dir,
                         max_sessions=args.max_sessions, pipeline=args.pipeline)
    print(f"hybridlib serve: {args.mode} mode on http://{args.host}:{args.port}/ (model {model})", flush=True)
    log.info("models dir %s", models_dir)
    web.run_app(app, host=args.host, port=args.port, print=None)
    return 0
