"""Fuzz targets: Hypothesis strategies and their oracles, shared by the in-suite fuzz tests
(``tests/unit/test_fuzz.py``, ``tests/integration/test_fuzz_http.py``, a fixed seeded budget)
and ``benchmarks/fuzz.py`` (a long budget with a record of inputs tried and failures).

Each target is a strategy that draws one input and a ``check(case, ctx)`` that feeds it to the
real code and raises ``AssertionError`` when the answer breaks the contract: *every input gets
either a correct result or a 4xx / exit 2 with a message naming the problem — never a 500, an
uncaught exception (a traceback) or a partial file.* ``ctx`` holds what a target needs to run:
``tmp`` (a scratch folder), ``split_url`` / ``offer_url`` (real servers on 127.0.0.1).

Strategies draw small structured inputs (valid ones and mutations of valid ones: the
interesting bugs sit next to the happy path), never huge blobs: large tensors come from a
drawn seed, not element by element.
"""
from __future__ import annotations

import contextlib
import http.client
import io
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from hypothesis import strategies as st

# ----------------------------------------------------------------------------- helpers

#: printable ASCII: what can travel in an HTTP header value unchanged
_HDR_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=24)


def http_request(url: str, method: str, path: str, body: bytes | None, headers: dict[str, str],
                 timeout: float = 60) -> tuple[int, str, bytes]:
    """One request on a fresh connection; (status, content type, body)."""
    u = urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type", ""), r.read()
    finally:
        c.close()


def _json_error(status: int, ctype: str, body: bytes) -> str:
    assert ctype.startswith("application/json"), (status, ctype, body[:200])
    msg = json.loads(body).get("error")
    assert isinstance(msg, str) and msg.strip(), (status, body[:200])
    return msg


def files_in(d: Path) -> set[str]:
    return {str(p.relative_to(d)) for p in d.rglob("*")}


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``hybridlib ARGV`` in this process (a subprocess per example would be 100× slower).
    An exception escaping ``cli.main`` is what a user sees as a traceback: it propagates."""
    from hybridlib import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


# ----------------------------------------------------------------------------- /split payloads

DTYPE_NAMES = ("float32", "float16", "uint8")
CODEC_NAMES = ("none", "zlib", "zstd", "lz4")


@st.composite
def split_payloads(draw: Any, item_shape: tuple[int, ...] = (4, 4, 2)) -> dict[str, Any]:
    """Headers + body for a tensor of ``N × item_shape``: a valid encoding, then maybe a
    mutation of the headers (wrong/odd shape, dtype, codec, scale, zero point) or of the body
    (truncated, a flipped byte, bytes appended or prepended, random bytes)."""
    from hybridlib import wire

    n = draw(st.integers(1, 3))
    dtype = draw(st.sampled_from(DTYPE_NAMES))
    codec = draw(st.sampled_from(CODEC_NAMES))
    seed = draw(st.integers(0, 2**32 - 1))
    mag = draw(st.sampled_from([1.0, 1e-30, 1e4, 6e4]))
    x = np.clip(np.random.default_rng(seed).normal(size=(n, *item_shape)) * mag, -6e4, 6e4).astype(np.float32)
    body, headers = wire.encode(x, dtype, codec)
    headers = dict(headers)
    for _ in range(draw(st.integers(0, 2))):
        key = draw(st.sampled_from(["X-Shape", "X-Dtype", "X-Codec", "X-Scale", "X-Zero-Point"]))
        how = draw(st.sampled_from(["drop", "text", "shape", "number"]))
        if how == "drop":
            headers.pop(key, None)
        elif how == "text":
            headers[key] = draw(_HDR_TEXT)
        elif how == "shape":
            dims = draw(st.lists(st.integers(-2, 2**40), min_size=0, max_size=6))
            headers[key] = ",".join(map(str, dims))
        else:
            v = draw(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2**70, 2**70)))
            headers[key] = repr(v) if isinstance(v, float) else str(v)
    how = draw(st.sampled_from(["keep", "keep", "truncate", "flip", "append", "prepend", "random", "empty"]))
    if how == "truncate" and body:
        body = body[: draw(st.integers(0, len(body) - 1))]
    elif how == "flip" and body:
        i = draw(st.integers(0, len(body) - 1))
        body = body[:i] + bytes([body[i] ^ draw(st.integers(1, 255))]) + body[i + 1:]
    elif how == "append":
        body = body + draw(st.binary(min_size=1, max_size=16))
    elif how == "prepend":
        body = draw(st.binary(min_size=1, max_size=16)) + body
    elif how == "random":
        body = draw(st.binary(max_size=512))
    elif how == "empty":
        body = b""
    return {"headers": headers, "body": body, "item_shape": item_shape, "mutation": how}


def check_split_decode(case: dict[str, Any], ctx: dict[str, Any] | None = None) -> str:
    """:func:`hybridlib.wire.decode` (what ``/split`` runs): a finite float32 tensor of the
    declared shape, or a WireError with status 400/413 and a message; nothing else."""
    from hybridlib.serving import http as serve_http
    from hybridlib import wire

    try:
        y = serve_http.decode_tensor(case["body"], case["headers"], case["item_shape"])
    except wire.WireError as e:
        assert e.http_status in (400, 413) and str(e).strip(), e
        return str(e.http_status)
    shape = tuple(int(v) for v in case["headers"]["X-Shape"].replace(" ", "").split(","))
    assert y.dtype == np.float32 and y.shape == shape and np.isfinite(y).all()
    return "ok"


def check_split_http(case: dict[str, Any], ctx: dict[str, Any]) -> str:
    """``POST /split/pool2`` on a real server: 200 with probabilities, or 4xx JSON ``error``."""
    path = ctx.get("split_path", "/split/pool2")
    status, ctype, body = http_request(ctx["split_url"], "POST", path, case["body"], case["headers"])
    assert status < 500, (status, body[:300])
    if status == 200:
        out = json.loads(body)
        probs = list(out["probs"].values())
        assert len(probs) == 7 and abs(sum(probs) - 1) < 1e-3 and all(math.isfinite(p) for p in probs)
    else:
        assert 400 <= status < 500
        _json_error(status, ctype, body)
    return str(status)


# ----------------------------------------------------------------------------- /offer bodies

#: A browser-shaped offer (video only, one data channel): mutations of it reach aiortc's parser.
SDP_TEMPLATE = "\r\n".join([
    "v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
    "a=group:BUNDLE 0 1", "a=extmap-allow-mixed", "a=msid-semantic: WMS",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97", "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0",
    "a=ice-ufrag:someufrag", "a=ice-pwd:someicepasswordsomeicepassword", "a=ice-options:trickle",
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32), "a=setup:actpass", "a=mid:0", "a=sendrecv",
    "a=rtcp-mux", "a=rtpmap:96 VP8/90000", "a=rtcp-fb:96 nack", "a=rtcp-fb:96 nack pli",
    "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96", "a=ssrc:1 cname:fuzz",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0",
    "a=ice-ufrag:someufrag", "a=ice-pwd:someicepasswordsomeicepassword",
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32), "a=setup:actpass", "a=mid:1",
    "a=sctp-port:5000", "a=max-message-size:262144", "",
])


@st.composite
def sdp_texts(draw: Any) -> str:
    lines = SDP_TEMPLATE.split("\r\n")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["drop", "dup", "garble", "number", "swap"]))
        if how == "drop" and len(lines) > 1:
            lines.pop(i)
        elif how == "dup":
            lines.insert(i, lines[i])
        elif how == "garble":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))] + draw(st.text(max_size=12))
        elif how == "number":
            lines[i] = re.sub(r"\d+", str(draw(st.integers(-2**40, 2**40))), lines[i], count=1)
        else:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
    return draw(st.sampled_from(["\r\n", "\n"])).join(lines)


_JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                       st.text(max_size=20))
_JSON = st.recursive(_JSON_LEAF, lambda c: st.one_of(st.lists(c, max_size=4),
                                                      st.dictionaries(st.text(max_size=8), c, max_size=4)),
                     max_leaves=12)


@st.composite
def offer_requests(draw: Any) -> dict[str, Any]:
    """``POST /offer`` requests: well-formed envelopes around mutated SDP, odd JSON, odd types,
    not-JSON bytes, wrong content types, bodies over the 64 KiB limit."""
    kind = draw(st.sampled_from(["sdp", "sdp", "sdp", "json", "fields", "bytes", "big"]))
    ctype = "application/json"
    if kind == "sdp":
        body = json.dumps({"sdp": draw(sdp_texts()), "type": "offer"}).encode()
    elif kind == "json":
        body = json.dumps(draw(_JSON)).encode()
    elif kind == "fields":
        body = json.dumps({"sdp": draw(st.one_of(_JSON, st.text(max_size=60).map(lambda t: "m=video " + t))),
                           "type": draw(st.one_of(st.sampled_from(["offer", "answer", "pranswer"]), _JSON))}).encode()
    elif kind == "bytes":
        body = draw(st.binary(max_size=200))
    else:
        body = json.dumps({"sdp": "m=video " + "a" * (64 * 1024), "type": "offer"}).encode()
    if draw(st.integers(0, 9)) == 0:
        ctype = draw(st.sampled_from(["text/plain", "application/x-www-form-urlencoded", ""]))
    return {"body": body, "headers": {"Content-Type": ctype} if ctype else {}}


def check_offer(case: dict[str, Any], ctx: dict[str, Any]) -> str:
    """A real cloud server: 200 with an SDP answer, or 4xx JSON ``error``; never 5xx."""
    status, ctype, body = http_request(ctx["offer_url"], "POST", "/offer", case["body"], case["headers"])
    assert status < 500, (status, body[:300])
    if status == 200:
        ans = json.loads(body)
        assert ans["type"] == "answer" and "m=" in ans["sdp"]
        # accepting an offer the peer connection cannot use is a lie: every media section
        # needs DTLS fingerprints and ICE credentials, or aiortc fails later in a background task
        from aiortc.sdp import SessionDescription

        for m in SessionDescription.parse(json.loads(case["body"])["sdp"]).media:
            assert m.dtls is not None and m.dtls.fingerprints, f"accepted an offer whose {m.kind} has no fingerprint"
            assert m.ice is not None and m.ice.usernameFragment and m.ice.password, \
                f"accepted an offer whose {m.kind} has no ICE credentials"
    else:
        _json_error(status, ctype, body)
    return str(status)


# ----------------------------------------------------------------------------- dataset rows

USAGES = ("Training", "PublicTest", "PrivateTest")
#: bad values: out of range, not integers, or integers only to Python's lenient int()
#: ("+5", "٣", "1_0", full-width digits) — the validator accepts ASCII digits only
BAD_LABELS = ("7", "-1", "", "a", "1.5", "3x", "66", "0x1", "None", "+3", "٣", "３")
BAD_PIXELS = ("256", "-1", "x", "1.5", "1e3", "0x10", "999", "12a", "NaN", ",", "+5", "٣", "1_0", "５")


def _pixels(rng: np.random.Generator, n: int = 2304) -> str:
    return " ".join(map(str, rng.integers(0, 256, n)))


@st.composite
def dataset_csvs(draw: Any) -> dict[str, Any]:
    """A FER-2013 csv with exactly one bad line (or none, ``bad_line`` None): a bad label,
    Usage, pixel count or value, field count, non-UTF-8 or NUL byte, quote, or header."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rows = [f"{int(rng.integers(0, 7))},{_pixels(rng)},{draw(st.sampled_from(USAGES))}"
            for _ in range(draw(st.integers(1, 4)))]
    header = "emotion,pixels,Usage"
    kind = draw(st.sampled_from(["none", "label", "usage", "count", "value", "fields", "utf8", "nul",
                                 "quote", "header", "empty"]))
    at = draw(st.integers(0, len(rows) - 1))
    u = draw(st.sampled_from(USAGES))
    if kind == "label":
        rows[at] = f"{draw(st.sampled_from(BAD_LABELS))},{_pixels(rng)},{u}"
    elif kind == "usage":
        bad_u = draw(st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF, exclude_characters=',"'),
                             max_size=12).filter(lambda t: t.strip() not in USAGES))
        rows[at] = f"3,{_pixels(rng)},{bad_u}"
    elif kind == "count":
        rows[at] = f"3,{_pixels(rng, draw(st.sampled_from([0, 1, 2303, 2305, 4608])))},{u}"
    elif kind == "value":
        toks = _pixels(rng).split()
        toks[draw(st.integers(0, 2303))] = draw(st.sampled_from(BAD_PIXELS))
        rows[at] = f"3,{' '.join(toks)},{u}"
    elif kind == "fields":
        rows[at] = draw(st.sampled_from([f"3,{_pixels(rng)}", f"3,{_pixels(rng)},{u},extra", "3"]))
    elif kind == "header":
        header = draw(st.sampled_from(["emotion,pixels", "label,pixels,Usage", "pixels,Usage", "x", "emotion,,Usage"]))
    text = header + "\n" + "\n".join(rows) + "\n"
    data = text.encode()
    if kind in ("utf8", "nul", "quote"):
        lines = data.split(b"\n")
        ins = {"utf8": b"\xff\xfe", "nul": b"\0", "quote": b'"'}[kind]
        line = lines[at + 1]
        pos = draw(st.integers(0, len(line)))
        lines[at + 1] = line[:pos] + ins + line[pos:]
        data = b"\n".join(lines)
    if kind == "empty":
        data = draw(st.sampled_from([b"", b"\n", b"  \n\n"]))
    bad_line = {"none": None, "header": 1, "empty": 1}.get(kind, at + 2)
    return {"data": data, "kind": kind, "bad_line": bad_line, "n_lines": data.count(b"\n") + 1}


def check_dataset(case: dict[str, Any], ctx: dict[str, Any]) -> str:
    """``hybridlib data validate FILE``: exit 0 on a good file; else exit 2 and
    ``hybridlib data: error: FILE:LINE: reason`` with the bad line; nothing written."""
    d = Path(ctx["tmp"]) / f"ds{ctx.setdefault('_n', [0])[0]}"
    ctx["_n"][0] += 1
    d.mkdir(parents=True)
    path = d / "fer.csv"
    path.write_bytes(case["data"])
    before = files_in(d)
    rc, out, err = run_cli(["data", "validate", str(path)])
    assert files_in(d) == before, "validate wrote a file"
    if case["bad_line"] is None:
        assert rc == 0 and "rows" in out, (rc, err[-300:])
        return "exit 0"
    assert rc == 2, (case["kind"], rc, out[-300:], err[-300:])
    m = re.search(re.escape(str(path)) + r":(\d+): (.+)", err)
    assert m and m.group(2).strip(), (case["kind"], err[-300:])
    line = int(m.group(1))
    if case["kind"] == "quote":  # an open quote runs to the end of the file: any later line
        assert case["bad_line"] <= line <= case["n_lines"], (line, case["bad_line"], err[-300:])
    else:
        assert line == case["bad_line"], (case["kind"], line, case["bad_line"], err[-300:])
    return "exit 2"


# ----------------------------------------------------------------------------- partition graphs


def _valid_graph(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(2, 6))
    ids = [f"n{i}" for i in range(n)]
    num = st.floats(0, 1e4, allow_nan=False)
    nodes = [{"id": i, "device_ms": draw(num), "cloud_ms": draw(num), "out_bytes": draw(num),
              "device_mj": draw(num)} for i in ids]
    edges = [[ids[k - 1], ids[k]] for k in range(1, n)]
    if draw(st.booleans()) and n > 2:  # a skip connection: a DAG, not a chain
        edges.append([ids[0], ids[-1]])
    return {"nodes": nodes, "edges": edges, "input": ids[0], "output": ids[-1], "name": "fuzz"}


_ODD = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.text(max_size=8),
                 st.sampled_from([float("nan"), float("inf"), -1.0, 1e308, [], {}, [[]], {"a": 1}]))


@st.composite
def graph_files(draw: Any) -> dict[str, Any]:
    """Graph JSON: a valid small graph with 0–3 structural mutations (a field removed or of the
    wrong type, unknown/self/cyclic edges, duplicate ids, input = output …) or broken text."""
    g = _valid_graph(draw)
    for _ in range(draw(st.integers(0, 3))):
        how = draw(st.sampled_from(["top", "node", "edge", "cycle", "dup", "io", "meta", "extra_edge"]))
        if how == "top":
            k = draw(st.sampled_from(["nodes", "edges", "input", "output", "name"]))
            if draw(st.booleans()):
                g.pop(k, None)
            else:
                g[k] = draw(_ODD)
        elif how == "node" and isinstance(g.get("nodes"), list) and g["nodes"]:
            i = draw(st.integers(0, len(g["nodes"]) - 1))
            if not isinstance(g["nodes"][i], dict):
                continue
            k = draw(st.sampled_from(["id", "device_ms", "cloud_ms", "out_bytes", "device_mj", "wire_bytes",
                                      "codec_up_ms"]))
            if draw(st.booleans()):
                g["nodes"][i].pop(k, None)
            else:
                g["nodes"][i][k] = draw(_ODD)
        elif how == "edge" and isinstance(g.get("edges"), list) and g["edges"]:
            i = draw(st.integers(0, len(g["edges"]) - 1))
            g["edges"][i] = draw(st.one_of(_ODD, st.lists(st.sampled_from(["n0", "n1", "zz", 3, None]), max_size=3)))
        elif how == "cycle" and isinstance(g.get("edges"), list):
            g["edges"].append([g.get("output"), g.get("input")])
        elif how == "dup" and isinstance(g.get("nodes"), list) and g["nodes"]:
            g["nodes"].append(dict(g["nodes"][0]) if isinstance(g["nodes"][0], dict) else g["nodes"][0])
        elif how == "io":
            g["output"] = g.get("input")
        elif how == "meta" and isinstance(g.get("nodes"), list) and g["nodes"] and isinstance(g["nodes"][0], dict):
            g["nodes"][0]["meta"] = draw(_ODD)
        elif how == "extra_edge" and isinstance(g.get("edges"), list):
            g["edges"].append(["n0", "n0"])
    text = json.dumps(g, allow_nan=True)
    raw = draw(st.sampled_from(["json", "json", "json", "truncate", "bytes"]))
    data = text.encode()
    if raw == "truncate":
        data = data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    elif raw == "bytes":
        data = draw(st.binary(max_size=64))
    args = draw(st.sampled_from([[], ["--schedule", "any"], ["--objective", "energy"], ["--network", "3g"],
                                 ["--solver", "brute"], ["--load", "0"], ["--rtt-ms", "-5"],
                                 ["--uplink-mbps", "0"]]))
    return {"data": data, "args": args, "command": draw(st.sampled_from(["solve", "pareto"]))}


def check_graph(case: dict[str, Any], ctx: dict[str, Any]) -> str:
    """``hybridlib partition solve|pareto FILE``: exit 0 with a JSON plan, or exit 2 with
    ``hybridlib partition: error: …``; never a traceback; nothing written."""
    d = Path(ctx["tmp"]) / f"g{ctx.setdefault('_n', [0])[0]}"
    ctx["_n"][0] += 1
    d.mkdir(parents=True)
    path = d / "graph.json"
    path.write_bytes(case["data"])
    before = files_in(d)
    args = case["args"]
    if case["command"] == "pareto":
        args = [a for a in args if a not in ("--objective", "energy", "--solver", "brute")]
    rc, out, err = run_cli(["partition", case["command"], str(path), *args])
    assert files_in(d) == before, "partition wrote a file"
    if rc == 0:
        plan = json.loads(out)
        assert plan, out[:200]
    else:
        assert rc == 2, (rc, err[-300:])
        assert err.startswith("hybridlib partition: error: ") and len(err.strip()) > 30, err[-300:]
    return f"exit {rc}"


# ----------------------------------------------------------------------------- servers


@contextlib.contextmanager
def fuzz_server(model_path: str | Path, max_sessions: int = 256) -> Any:
    """One real app on 127.0.0.1 serving ``/split`` (tails of ``model_path``) and ``/offer``
    (cloud mode; TF runtime, no TF Lite conversion). Yields its base URL."""
    from hybridlib import export
    from hybridlib.serving import cloud, vision
    from hybridlib.serving import app as serve

    import asyncio

    clf = vision.Classifier(export.load_model(model_path), runtime="tf")
    app = serve.make_app("cloud", model_path=model_path, max_sessions=max_sessions, classifier=clf)
    svc = app[cloud._APP_KEY]

    async def hang_up(request: Any, response: Any) -> None:
        # An offer the server accepted opens a peer connection no client will ever join; close
        # it right after the answer (as a client hanging up would) so sessions do not pile up
        # to max_sessions and turn later offers into 503s that never reach the SDP parser.
        if request.path == "/offer" and response.status == 200:
            async def close_all() -> None:
                for s in list(svc.sessions.values()):
                    await svc._close(s)

            asyncio.get_running_loop().create_task(close_all())

    app.on_response_prepare.append(hang_up)
    with serve.run_in_thread(app) as url:
        yield url


# ----------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Target:
    name: str
    strategy: Callable[[], st.SearchStrategy]
    check: Callable[[dict[str, Any], dict[str, Any]], str]  # → outcome ("400", "exit 2", …)
    needs: tuple[str, ...] = ()  # ctx keys: "split_url", "offer_url" (real servers)


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("split_decode", lambda: split_payloads((4, 4, 2)), check_split_decode),
    Target("split_http", lambda: split_payloads((12, 12, 64)), check_split_http, ("split_url",)),
    Target("offer", offer_requests, check_offer, ("offer_url",)),
    Target("dataset_csv", dataset_csvs, check_dataset),
    Target("partition_graph", graph_files, check_graph),
)}
