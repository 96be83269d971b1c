"""The page-side cost of one offload, profiled per device class before the scored run.

Why: the engine's cost model charges an offloading cut device compute + link + cloud compute +
link. A real offload also pays what neither the layer profiles nor the link model hold: setting
up the request on the page, the server reading and decoding the body, the page reading and
JSON-parsing the answer (ASR's answer is 70 KB of senone posteriors) and scheduling on a
throttled main thread. On the low-end class (×10 CPU throttling) that is tens of ms per offload,
and left unpriced the engine picked cloud-only where device-only measured 3–6× faster.

What it measures (:func:`measure`): in one Chromium page (reloaded per network from that
network's own ``/split`` server, TF.js loading unthrottled), the link **unshaped** (loopback: the link model would charge ≈ 0), per device class
(its CPU throttling applied) ``reps`` cloud-only round trips through the page's own ``hlSplit.step`` (the scored run's
code path) on the **held-out input** (:data:`hybridlib.study.choice.engine.PROBE_SEED`) after
one untimed one; the overhead of each is
``total_ms − server_ms`` (the server's reported compute is the profile's business). Per device
class, the per-byte upload and download costs are the slopes of ``POST /probe/upload`` and
``GET /probe/download`` times (to the decoded body) between two sizes (:data:`PROBE_BYTES`). Rows: ``role`` overhead, ``run_id`` ``overhead:<model>``; never
scored (:func:`hybridlib.study.choice.engine.check_disjoint` checks it with the probe's rows).

How the engine prices it (:meth:`Overhead.network`): per device class, the fixed part ``F`` is
the median over every network's round trips of (overhead − the per-byte cost of its body and of
its answer) — pooled, because one network's few round trips on a shared machine spread by 2×
(the per-network medians are kept, :meth:`Overhead.table`). ``F`` + the per-byte download cost ×
the network's answer size (ASR's is 70 KB) is added to the link's RTT — every offloading
single cut pays exactly one up and one down transfer, i.e. one RTT — and the per-byte cost
lowers the uplink rate, so :func:`hybridlib.partition.solve` and ``evaluate`` price it for every
cut that offloads and never for device-only.
"""
from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from hybridlib import partition
from hybridlib.browser import f32_to_b64, run_sync
from hybridlib.export import split_assets
from hybridlib.profiling import devices
from hybridlib.study.split import execute as split_execute
from hybridlib.study.split import server as split_server
from hybridlib.utils import InputError

#: the two body sizes whose time difference gives the per-byte upload / download cost
PROBE_BYTES = (1_000, 256_000)
UPLOAD_BYTES = PROBE_BYTES
COLUMNS = ("role", "run_id", "model", "device", "input_seed", "kind", "rep", "up_bytes", "down_bytes",
           "total_ms", "server_ms", "overhead_ms")

#: ``n`` rounds; each posts a body of every size to ``/probe/upload`` and times it to the parsed answer
_UPLOAD_JS = """async ([sizes, n]) => {
  const out = [];
  for (let i = 0; i < n; i++) {
    const round = [];
    for (const size of sizes) {
      const body = new Uint8Array(size);
      const t0 = performance.now();
      const r = await fetch('/probe/upload', {method: 'POST', body, cache: 'no-store',
                                              headers: {'Content-Type': 'application/octet-stream'}});
      await r.json();
      round.push(performance.now() - t0);
    }
    out.push(round);
  }
  return out;
}"""
#: ``n`` rounds; each fetches a body of every size from ``/probe/download`` and times it to the decoded text
_DOWNLOAD_JS = """async ([sizes, n]) => {
  const out = [];
  for (let i = 0; i < n; i++) {
    const round = [];
    for (const size of sizes) {
      const t0 = performance.now();
      const r = await fetch(`/probe/download?bytes=${size}`, {cache: 'no-store'});
      new TextDecoder().decode(await r.arrayBuffer());
      round.push(performance.now() - t0);
    }
    out.push(round);
  }
  return out;
}"""
#: ``n`` cloud-only round trips through the split page's own ``hlSplit.step`` (the scored run's code path)
_STEPS_JS = """async ([o, n]) => {
  const out = [];
  for (let i = 0; i < n; i++) { const r = await hlSplit.step(o); delete r.probs; out.push(r); }
  return out;
}"""


@dataclass
class Overhead:
    """Per device class: fixed ms per offload, ms per uploaded and per downloaded byte; per network
    its answer's bytes; the rows they come from. ``Overhead()`` prices nothing (the engine before the overhead was profiled)."""

    rows: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(COLUMNS)))
    fixed_ms: dict[str, float] = field(default_factory=dict)
    per_byte_ms: dict[str, float] = field(default_factory=dict)
    per_byte_down_ms: dict[str, float] = field(default_factory=dict)
    answer_bytes: dict[str, float] = field(default_factory=dict)

    def offload_ms(self, device: str, model: str | None = None) -> float:
        """The fixed ms one offload of ``model`` pays on ``device``: F + its answer's download cost."""
        return (self.fixed_ms.get(device, 0.0)
                + self.per_byte_down_ms.get(device, 0.0) * self.answer_bytes.get(model or "", 0.0))

    def network(self, network: str | partition.Network, device: str, model: str | None = None) -> partition.Network:
        """``network`` with this overhead folded in for ``model`` on ``device``: RTT + the fixed
        part (:meth:`offload_ms`), uplink slowed by the per-byte upload part. An unprofiled device
        class gets the link unchanged."""
        net = partition.get_network(network)
        fixed, per_byte = self.offload_ms(device, model), self.per_byte_ms.get(device, 0.0)
        if fixed == 0.0 and per_byte == 0.0:
            return net
        ms_per_byte = 8.0 / (net.uplink_mbps * 1000.0) + per_byte
        return replace(net, rtt_ms=net.rtt_ms + fixed, uplink_mbps=8.0 / (1000.0 * ms_per_byte))

    def table(self) -> pd.DataFrame:
        """One row per device class: what the engine prices (fixed ms, upload and download ms per
        KB), the round trips pooled, and each network's own median overhead beside it (for the notebook)."""
        split = self.rows[self.rows["kind"] == "split"]
        out = []
        for d, f in self.fixed_ms.items():
            mine = split[split["device"] == d]
            out.append({"device": d, "fixed_ms": f, "upload_ms_per_kb": 1000.0 * self.per_byte_ms.get(d, 0.0),
                        "download_ms_per_kb": 1000.0 * self.per_byte_down_ms.get(d, 0.0), "round_trips": len(mine),
                        **{f"{m} ms": float(r["overhead_ms"].median()) for m, r in mine.groupby("model", sort=False)}})
        return pd.DataFrame(out)


def from_rows(rows: pd.DataFrame) -> Overhead:
    """The overhead the engine prices, from :func:`measure`'s rows alone: per device class the
    per-byte upload and download slopes (≥ 0) and the median over all its cloud-only round trips
    of the overhead less those slopes × the body's and the answer's bytes (≥ 0: noise never makes
    an offload cheaper than the link); per network the median answer bytes."""
    if rows.empty or set(rows["role"]) != {"overhead"}:
        raise InputError("overhead: give the overhead probe's rows only (role == 'overhead')")
    slopes: dict[str, dict[str, float]] = {"upload": {}, "download": {}}
    for kind, col in (("upload", "up_bytes"), ("download", "down_bytes")):
        for d, r in rows[rows["kind"] == kind].groupby("device", sort=False):
            med = r.groupby(col)["total_ms"].median()
            if len(med) < 2:
                raise InputError(f"overhead: the {kind} probe of {d} needs two body sizes, got {list(med.index)}")
            slopes[kind][d] = max(0.0, float((med.iloc[-1] - med.iloc[0]) / (med.index[-1] - med.index[0])))
    up, down = slopes["upload"], slopes["download"]
    split = rows[rows["kind"] == "split"]
    fixed = {d: max(0.0, statistics.median(r["overhead_ms"] - up.get(d, 0.0) * r["up_bytes"]
                                           - down.get(d, 0.0) * r["down_bytes"]))
             for d, r in split.groupby("device", sort=False)}
    answer = {m: float(r["down_bytes"].median()) for m, r in split.groupby("model", sort=False)}
    return Overhead(rows, fixed, up, down, answer)


def measure(ctx: Any, pairs: Mapping[str, Sequence[str]], reps: int = 5, seed: int = 1) -> Overhead:
    """Profile the offload overhead of every model of ``pairs`` (model → device classes); see the
    module docstring. ``seed``: the held-out input (the engine passes its ``PROBE_SEED``)."""
    if reps < 1 or not pairs:
        raise InputError("overhead.measure: need reps ≥ 1 and at least one (model, device)")
    return from_rows(run_sync(_measure, ctx, {m: list(d) for m, d in pairs.items()}, reps, seed))


def _measure(ctx: Any, pairs: dict[str, list[str]], reps: int, seed: int) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    heads = split_assets.cache_root(ctx) / "heads"
    with split_execute.launch_chromium(None) as bctx:
        page = bctx.new_page()
        page.set_default_timeout(300_000)
        for i, (m, devs) in enumerate(pairs.items()):
            h5 = split_assets.model_h5(m, ctx)
            km = split_assets.load_h5(h5)
            x = split_assets.example_input(tuple(int(d) for d in km.input_shape[1:]), seed)
            (cut,) = split_assets.resolve_cuts(km, [km.layers[0].name])
            with split_server.split_server(h5, heads, load="idle", model=km) as (url, _app):
                page.goto(f"{url}/split.html")  # one page, each network's own server (same-origin /split)
                # a CDP session per navigation: another origin may get another renderer, and the
                # throttling must reach the one that runs the page (TF.js loads unthrottled)
                cdp = bctx.new_cdp_session(page)
                devices.apply_network(cdp, "none")
                page.wait_for_function("() => window.hlSplit && window.hlSplit.loaded")
                page.evaluate("b => hlSplit.init(b)", "wasm")
                page.evaluate("([b, s]) => hlSplit.setInput(b, s)", [f32_to_b64(x), [1, *km.input_shape[1:]]])
                opts = {"head": None, "layer": cut.layer, "dtype": "float32", "codec": "none", "mode": cut.mode}
                base = {"role": "overhead", "run_id": f"overhead:{m}", "model": m, "input_seed": seed}
                for d in devs:
                    devices.apply_device(cdp, d)
                    for rep, r in enumerate(page.evaluate(_STEPS_JS, [opts, reps + 1])[1:]):
                        total, server = float(r["total_ms"]), float(r.get("tail_ms") or 0.0)
                        rows.append({**base, "device": d, "kind": "split", "rep": rep,
                                     "up_bytes": int(r["up_bytes"]), "down_bytes": int(r["down_bytes"]),
                                     "total_ms": total, "server_ms": server, "overhead_ms": total - server})
                    if i == 0:  # the per-byte costs are the device class's, timed once
                        for kind, js in (("upload", _UPLOAD_JS), ("download", _DOWNLOAD_JS)):
                            for rep, ms in enumerate(page.evaluate(js, [list(PROBE_BYTES), reps + 1])[1:]):
                                rows += [{**base, "device": d, "kind": kind, "rep": rep,
                                          "up_bytes": n if kind == "upload" else 0,
                                          "down_bytes": n if kind == "download" else 0,
                                          "total_ms": t, "server_ms": 0.0, "overhead_ms": t}
                                         for n, t in zip(PROBE_BYTES, ms)]
                devices.apply_device(cdp, "desktop")  # the next network's TF.js loads unthrottled
                cdp.detach()
        page.close()
    return pd.DataFrame(rows, columns=list(COLUMNS))
