"""Early exit **executed** in the browser: the edge model (trunk → ``exit1`` + the converter's
encoder) in TF.js, the entropy decision in the page, the converter's quantised code posted to
the server's tail only when the branch is not confident.

The **bundle** (:func:`save_bundle`) is what both the app's ``serve --mode exit`` and the
benchmark page run; one folder:

* ``edge/`` — TF.js layers model (fp32) ``input → [exit1 softmax, conv_encC code]``
  (:func:`edge_model`): two outputs of one graph, so the trunk runs once per input;
* ``chain.h5`` — the converter folded into one chain model
  (:func:`hybridlib.study.early_exit.converter_exec.chain_model`); the server runs its tail from
  ``conv_encC`` (restore + the unchanged tail) on ``POST /split/conv_encC``;
* ``exit.json`` — ``{channels, at, cut, threshold, dtype, codec, rule, …}`` (:data:`RULE`).

The decision rule is the library's (:func:`hybridlib.study.early_exit.converter.operating_curve`):
an input **exits iff its branch's normalised entropy < T** — so T = 0 ships every input and
T = 1 exits every input whose branch is not exactly uniform. The page computes the entropy
itself (``web/split.js`` ``hlSplit.stepExit``, ``web/exit.js`` in the app); the code goes up as
the wire codec's per-tensor uint8 + zlib (what the page can make, ``web/wire.js``).

:func:`execute` drives the benchmark page (``/split.html``) over real inputs under a device
class's CPU throttling and a network preset's DevTools shaping, one request per non-exited
input; rows carry the page's decision, entropy, top-1, bytes on the wire and per-stage ms.
"""
from __future__ import annotations

import logging
import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hybridlib import browser, export
from hybridlib.browser import f32_from_b64, f32_to_b64, run_sync
from hybridlib.export.exit_bundle import CHAIN_H5, EDGE_DIR, META, RULE, check_threshold, read_bundle
from hybridlib.profiling import devices
from hybridlib.study.early_exit import converter_exec
from hybridlib.study.split.execute import launch_chromium, open_split_page
from hybridlib.study.split.server import split_server
from hybridlib.utils import InputError, write_json_atomic

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

log = logging.getLogger(__name__)

#: per-input columns of :func:`execute`
STAGES = ("head_ms", "encode_ms", "upload_ms", "tail_ms", "download_ms")


def edge_model(model: Any, conv: Any) -> Any:
    """``input → [exit1 softmax, code]`` with the trained trunk up to ``conv.at``, the branch's
    layers and the converter's encoder layer applied to the same trunk tensor (no nested
    models: TF.js loads a flat graph, and the trunk runs once for both outputs)."""
    import tf_keras as keras

    at_t = model.get_layer(conv.at).output
    x = at_t
    for layer in conv.branch.layers[1:]:  # [0] is the branch's own Input
        x = layer(x)
    code = conv.encoder.layers[-1](at_t)
    return keras.Model(model.inputs, [x, code], name=f"edge_c{int(conv.channels)}")


def save_bundle(model: Any, conv: Any, threshold: float, out_dir: str | os.PathLike[str],
                codec: str = "zlib", extra: dict[str, Any] | None = None) -> Path:
    """Write the bundle (module doc) for ``conv`` at threshold ``threshold`` to ``out_dir`` (atomic)."""

    if not (isinstance(threshold, (int, float, np.floating)) and 0.0 <= float(threshold) <= 1.0):
        raise InputError(f"threshold must be in [0, 1] (normalised entropy), got {threshold!r}")
    if codec not in ("none", "zlib"):
        raise InputError(f"codec must be none or zlib (what the page can encode), got {codec!r}")
    edge = edge_model(model, conv)
    out = Path(out_dir)
    with export.atomic_dir(out) as tmp:
        converter_exec.save_chain(model, conv, tmp / CHAIN_H5)
        export.export_tfjs(edge, tmp / EDGE_DIR, "none", extra={"exit_edge": {"at": conv.at, "channels": int(conv.channels)}})
        meta = {"channels": int(conv.channels), "at": conv.at, "cut": f"conv_enc{int(conv.channels)}",
                "threshold": float(threshold), "dtype": "uint8", "codec": codec, "rule": RULE,
                "edge_url": f"/model/{EDGE_DIR}/model.json", "edge_outputs": ["exit1", "code"],
                "code_shape": [int(d) for d in edge.outputs[1].shape[1:]],
                "n_classes": int(edge.outputs[0].shape[-1]), **(extra or {})}
        write_json_atomic(tmp / META, meta)
    log.info("exit bundle C=%d T=%.3f → %s", conv.channels, threshold, out)
    return out


def profile_edge_ms(bundle: str | os.PathLike[str], device: str = "phone", runs: int = 7, warmup: int = 2) -> dict[str, Any]:
    """The bundle's edge model timed whole in TF.js (wasm) under ``device``'s DevTools CPU
    throttling, on a random input in the profiling harness (not the executed page): the device
    cost of an early-exit answer, profiled like 04 profiles a model. Returns ``{"median_ms",
    "times_ms", "cpu_throttle", "backend"}``."""

    meta = read_bundle(bundle)
    if runs < 1 or warmup < 0:
        raise InputError(f"runs must be ≥ 1 and warmup ≥ 0, got {runs!r}, {warmup!r}")
    return run_sync(_profile_edge, meta["edge_dir"], device, int(runs), int(warmup))


def _profile_edge(edge_dir: str, device: str, runs: int, warmup: int) -> dict[str, Any]:
    d = devices.get_device(device)
    with browser.tfjs_session({"edge": edge_dir}) as (page, _):
        info = page.evaluate("n => hl.load(n)", "edge")
        rate = devices.set_cpu_throttle(page, d.cpu_throttle) if d.cpu_throttle != 1 else 1.0
        shape = [1, *info["inputs"][0][1:]]
        r = page.evaluate("([n, s, k, w]) => hl.time(n, s, k, w)", ["edge", shape, runs, warmup])
    return {"median_ms": float(statistics.median(r["times_ms"])), "times_ms": [float(t) for t in r["times_ms"]],
            "cpu_throttle": rate, "device": d.name, "backend": r["backend"]}


# ----------------------------------------------------------------------------- benchmark page


def execute(bundle: str | os.PathLike[str], x: np.ndarray, *, devices: Sequence[str] = ("phone",),
            networks: Sequence[str] = ("lte",), threshold: float | None = None, warmup: int = 1,
            y: np.ndarray | None = None, share_inputs: bool = False) -> pd.DataFrame:
    """Run every input of ``x`` (N×48×48×1 float32, preprocessed) through the benchmark page's
    ``hlSplit.stepExit`` under each device class × network: edge model in TF.js (wasm), entropy
    in the page, exit or POST the uint8+zlib code to the real server's ``/split/<cut>``.

    Returns one row per (device, network, input): ``exited``, ``entropy``, ``top1`` (the
    answer the page shows: the branch's when exited, the server's otherwise), ``correct`` when
    ``y`` is given, ``up_bytes`` (the body sent; 0 when exited), ``header_bytes`` (the X-Shape,
    X-Scale, X-Zero-Point values: the library's byte count includes them), :data:`STAGES`, ``total_ms``.
    ``df.attrs``: the bundle's meta, the threshold used, the page's branch probabilities and
    pre-quantisation codes of the first condition (``branch_probs``, ``codes``) for parity.

    ``share_inputs``: the conditions **share** the inputs instead of each running all of them —
    condition j of k runs inputs j, j+k, j+2k, … (``i`` is the input's index in ``x``) — so one
    run covers k times more distinct faces for the exit share and accuracy (which do not depend
    on the link) at the same cost; ``branch_probs``/``codes`` then hold every row's, in row order.
    """

    meta = read_bundle(bundle)
    t = check_threshold(meta["threshold"] if threshold is None else threshold)
    xs = np.asarray(x, dtype=np.float32)
    if xs.ndim != 4 or len(xs) == 0:
        raise InputError(f"inputs must be N×H×W×C with N ≥ 1, got shape {xs.shape}")
    if y is not None and len(y) != len(xs):
        raise InputError(f"labels ({len(y)}) and inputs ({len(xs)}) differ in length")
    if not devices or not networks:
        raise InputError("devices and networks must each name at least one condition")
    return run_sync(_execute, meta, xs, list(devices), list(networks), t, int(warmup),
                    None if y is None else np.asarray(y), bool(share_inputs))


def _execute(meta: dict[str, Any], xs: np.ndarray, device_names: list[str], network_names: list[str],
             t: float, warmup: int, y: np.ndarray | None, share_inputs: bool = False) -> pd.DataFrame:
    devs = [devices.get_device(d) for d in device_names]
    nets = [devices.network_conditions(n) for n in network_names]
    rows: list[dict[str, Any]] = []
    attrs: dict[str, Any] = {"bundle": {k: v for k, v in meta.items()}, "threshold": t, "rule": RULE}
    opts = {"head": "edge", "layer": meta["cut"], "threshold": t, "dtype": meta.get("dtype", "uint8"),
            "codec": meta["codec"], "return_code": True}
    with split_server(meta["chain_h5"], meta["dir"]) as (url, _app), launch_chromium(None) as bctx:
        page = open_split_page(bctx, url)
        cdp = bctx.new_cdp_session(page)
        attrs["edge_load"] = page.evaluate("([k, u]) => hlSplit.loadHead(k, u)", ["edge", meta["edge_url"]])
        probs_page, codes_page = [], []
        first, k, j = True, len(devs) * len(nets), 0
        for d in devs:
            devices.apply_device(cdp, d)
            for n in nets:
                attrs.setdefault("network", {})[n.name] = devices.apply_network(cdp, n)
                page.evaluate("([b, s]) => hlSplit.setInput(b, s)", [f32_to_b64(xs[:1]), [1, *xs.shape[1:]]])
                for _ in range(warmup):  # both paths once: the first fetch opens the connection
                    page.evaluate("o => hlSplit.stepExit(o)", {**opts, "threshold": 0.0})
                    page.evaluate("o => hlSplit.stepExit(o)", {**opts, "threshold": 1.0})
                for i in (range(j, len(xs), k) if share_inputs else range(len(xs))):
                    page.evaluate("([b, s]) => hlSplit.setInput(b, s)", [f32_to_b64(xs[i:i + 1]), [1, *xs.shape[1:]]])
                    r = page.evaluate("o => hlSplit.stepExit(o)", opts)
                    if first or share_inputs:
                        probs_page.append(r["branch_probs"])
                        codes_page.append(f32_from_b64(r["code_b64"]).reshape(r["code_shape"]))
                    row = {"device": d.name, "network": n.name, "cpu_throttle": d.cpu_throttle, "i": i,
                           "exited": bool(r["exited"]), "entropy": float(r["entropy"]), "top1": int(r["top1"]),
                           "up_bytes": int(r["up_bytes"]), "header_bytes": int(r.get("header_bytes") or 0),
                           "down_bytes": int(r["down_bytes"]),
                           **{k: float(r.get(k) or 0.0) for k in STAGES}, "total_ms": float(r["total_ms"]),
                           "timing": r.get("timing", "page")}
                    if y is not None:
                        row["correct"] = bool(int(y[i]) == row["top1"])
                    rows.append(row)
                first, j = False, j + 1
        devices.apply_network(cdp, "none")
        attrs["backend"] = page.evaluate("() => hlSplit.backend")
    attrs["branch_probs"] = np.asarray(probs_page, dtype=np.float32)
    attrs["codes"] = np.concatenate(codes_page) if codes_page else None
    df = pd.DataFrame(rows)
    df.attrs.update(attrs)
    return df


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Per (device, network): measured exit fraction, accuracy (if labelled), mean bytes per
    input (exited = 0; body + header values, as :func:`hybridlib.study.early_exit.converter.ship` counts;
    ``body_per_input`` without them), and the median per-stage ms of the exited and shipped inputs."""

    out = []
    for (d, n), g in df.groupby(["device", "network"], sort=False):
        sh, ex = g[~g.exited], g[g.exited]
        wire = g.up_bytes + (g.header_bytes if "header_bytes" in g else 0)
        row: dict[str, Any] = {"device": d, "network": n, "n": len(g), "exit_fraction": float(g.exited.mean()),
                               "bytes_per_input": float(wire.mean()), "body_per_input": float(g.up_bytes.mean()),
                               "bytes_shipped": float(wire[~g.exited].mean()) if len(sh) else float("nan"),
                               "exit_total_ms": float(ex.total_ms.median()) if len(ex) else float("nan"),
                               "ship_total_ms": float(sh.total_ms.median()) if len(sh) else float("nan"),
                               "mean_total_ms": float(g.total_ms.mean())}
        if "correct" in g:
            row["accuracy"] = float(g.correct.mean())
        for k in STAGES:
            row[f"ship_{k}"] = float(sh[k].median()) if len(sh) else float("nan")
        out.append(row)
    return pd.DataFrame(out)
