"""hybridlib.export: splits with cut sets, TF.js files + manifest, atomic writes; /split codec."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from hybridlib import export
from hybridlib.serving import http as serve_http
from hybridlib.utils import InputError  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    """A small DAG shaped like the emotion CNN: chain → two-branch module → concat → dense."""
    import tf_keras as keras

    L = keras.layers
    inp = keras.Input((12, 12, 1), name="input")
    x = L.Conv2D(4, 3, padding="same", name="c1")(inp)
    x = L.BatchNormalization(name="c1_bn")(x)
    x = L.Activation("relu", name="c1_relu")(x)
    a = L.Conv2D(3, 1, name="m_b1x1")(x)
    b = L.Conv2D(2, 1, name="m_b3x3_reduce")(x)
    b = L.Conv2D(5, 3, padding="same", name="m_b3x3")(b)
    x = L.Concatenate(name="m")([a, b])
    x = L.MaxPooling2D(2, name="pool")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dropout(0.5, name="drop")(x)
    out = L.Dense(7, activation="softmax", name="predictions")(x)
    m = keras.Model(inp, out, name="tiny")
    rng = np.random.default_rng(0)
    m.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") if w.ndim > 1 else
                   rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in m.get_weights()])
    return m


@pytest.fixture(scope="module")
def xs():
    return np.random.default_rng(1).random((16, 12, 12, 1)).astype("float32")


def test_split_points_exclude_input_and_output(tiny):
    pts = export.split_points(tiny)
    assert pts[0] == "c1" and "input" not in pts and "predictions" not in pts
    assert len(pts) == len(tiny.layers) - 2


def test_split_and_chain_points_come_from_one_cut_set_walk(tiny):
    """split points = every cuttable layer but the input; chain cut points = those whose cut set
    is the layer's own output; split_model cuts exactly the cut set."""
    from hybridlib import models

    sets = models.cut_sets(tiny)
    assert export.split_points is models.split_points
    assert export.split_points(tiny) == [n for n in sets if n != "input"]
    assert models.chain_cut_points(tiny) == ["input", "c1", "c1_bn", "c1_relu", "m", "pool", "flatten", "drop"]
    assert sets["m_b3x3_reduce"] == ["m_b1x1", "m_b3x3_reduce"] or sets["m_b3x3_reduce"] == ["c1_relu", "m_b3x3_reduce"]
    for n in export.split_points(tiny):
        assert export.split_model(tiny, n, copy=False).cut == sets[n], n
    # cuts made with shared layers (copy=False) add call nodes; the walk reads the model's own
    # graph only (the former chain walk read every node and raised KeyError 'cut_c1' here)
    assert models.cut_sets(tiny) == sets
    assert models.chain_cut_points(tiny) == ["input", "c1", "c1_bn", "c1_relu", "m", "pool", "flatten", "drop"]


def test_every_split_reproduces_the_full_model(tiny, xs):
    ref = tiny.predict(xs, verbose=0)
    for layer in export.split_points(tiny):
        sp = export.split_model(tiny, layer)
        got = export.run_split(sp, xs)
        assert np.abs(got - ref).max() <= 1e-5, layer


def test_cut_set_inside_a_module_has_all_live_tensors(tiny):
    names = [l.name for l in tiny.layers]
    # Keras orders layers by depth: the first branch layer after c1_relu is one of the two
    first = min(("m_b1x1", "m_b3x3_reduce"), key=names.index)
    other = {"m_b1x1": "m_b3x3_reduce", "m_b3x3_reduce": "m_b1x1"}[first]
    sp = export.split_model(tiny, first)
    # after one branch's first layer, the block input is still needed by the other branch
    assert sp.cut == sorted(["c1_relu", first], key=names.index)
    shapes = {"c1_relu": (12, 12, 4), "m_b1x1": (12, 12, 3), "m_b3x3_reduce": (12, 12, 2)}
    assert sp.shapes == [shapes[c] for c in sp.cut]
    assert sp.cut_bytes == 4 * sum(int(np.prod(shapes[c])) for c in sp.cut)
    assert [t.name.split(":")[0] for t in sp.tail.inputs] == [f"cut_{c}" for c in sp.cut]
    both = export.split_model(tiny, other)
    assert both.n_tensors == 2 and "c1_relu" not in both.cut
    chain = export.split_model(tiny, "pool")
    assert chain.n_tensors == 1 and chain.shapes == [(6, 6, 8)]


def test_split_by_index_and_bad_layer(tiny):
    assert export.split_model(tiny, 3).layer == tiny.layers[3].name
    with pytest.raises(InputError, match="nope"):
        export.split_model(tiny, "nope")
    with pytest.raises(InputError, match="output"):
        export.split_model(tiny, "predictions")
    with pytest.raises(InputError, match="out of range"):
        export.split_model(tiny, 99)


def test_split_does_not_change_the_model(tiny, xs):
    before = tiny.predict(xs, verbose=0)
    n_nodes = [len(l._inbound_nodes) for l in tiny.layers]
    export.split_model(tiny, "m_b3x3")
    assert [len(l._inbound_nodes) for l in tiny.layers] == n_nodes
    assert np.array_equal(tiny.predict(xs, verbose=0), before)


def test_export_variants_files_manifest_and_sizes(tiny, tmp_path):
    res = export.export_variants(tiny, tmp_path / "v")
    assert set(res) == {"fp32", "float16", "uint8"}
    for v, r in res.items():
        d = tmp_path / "v" / v
        man = json.loads((d / "manifest.json").read_text())
        assert man["variant"] == v and man["format"] == "tfjs-layers-model"
        assert set(man["files"]) == {p.name for p in d.iterdir() if p.name != "manifest.json"}
        assert export.verify_manifest(d) == []
        mj = json.loads((d / "model.json").read_text())
        assert mj["format"] == "layers-model"
        layer_names = [l["config"]["name"] for l in mj["modelTopology"]["model_config"]["config"]["layers"]]
        assert layer_names == [l.name for l in tiny.layers]
        dtypes = {w["name"]: w.get("quantization", {}).get("dtype", "float32")
                  for g in mj["weightsManifest"] for w in g["weights"]}
        if v == "uint8":  # kernels/biases in uint8, BatchNorm parameters kept float32
            assert {n for n, d in dtypes.items() if d == "uint8"} == {
                n for n in dtypes if n.endswith("/kernel") or n.endswith("/bias")}
            assert {n for n, d in dtypes.items() if d == "float32"} == {n for n in dtypes if n.startswith("c1_bn/")}
        else:
            assert set(dtypes.values()) == {"float32" if v == "fp32" else v}
    w = {v: r.weight_bytes for v, r in res.items()}
    n_weights = sum(x.size for x in tiny.get_weights())
    n_bn = sum(x.size for x, t in zip(tiny.get_weights(), tiny.weights) if "_bn/" in t.name)
    assert w["fp32"] == 4 * n_weights and w["float16"] == 2 * n_weights
    assert w["uint8"] == (n_weights - n_bn) + 4 * n_bn
    rows = {r["variant"]: r for r in export.size_table(res)}
    assert rows["fp32"]["ratio_to_fp32"] == 1.0
    assert rows["uint8"]["total_bytes"] < rows["float16"]["total_bytes"] < rows["fp32"]["total_bytes"]


def test_quantize_all_reads_the_model_once(tiny, tmp_path, monkeypatch):
    """Every variant is derived from one read of the .h5: one Keras load (the check), one hash,
    and each manifest names that same source."""
    from hybridlib.export import tfjs
    from hybridlib.utils import sha256_file

    h5 = tmp_path / "tiny.h5"
    tiny.save(h5, include_optimizer=False)
    loads, real = [], tfjs.load_model
    monkeypatch.setattr(tfjs, "load_model", lambda p, **kw: loads.append(p) or real(p, **kw))
    res = export.export_variants(h5, tmp_path / "v")
    assert list(res) == ["fp32", "float16", "uint8"] and loads == [h5]
    for v, r in res.items():
        man = json.loads((r.out_dir / "manifest.json").read_text())
        assert man["source"] == {"path": str(h5), "sha256": sha256_file(h5)} and man["variant"] == v
        assert man["quantize"] == export.quantize_of(v) and export.verify_manifest(r.out_dir) == []
    # a bad value anywhere in the list fails before anything is read or written
    with pytest.raises(InputError, match="int4"):
        export.export_variants(h5, tmp_path / "bad", ["none", "int4"])
    assert not (tmp_path / "bad").exists() and len(loads) == 1


def test_ensure_tfjs_reexports_only_what_is_missing(tiny, tmp_path):
    h5 = tmp_path / "tiny.h5"
    tiny.save(h5, include_optimizer=False)
    out = export.ensure_tfjs(h5)
    assert out == export.default_tfjs_dir(h5) and all(export.verify_manifest(out / v) == [] for v in export.VARIANTS)
    before = {v: (out / v / "manifest.json").stat().st_mtime_ns for v in export.VARIANTS}
    (out / "float16" / "model.json").unlink()
    export.ensure_tfjs(h5)
    after = {v: (out / v / "manifest.json").stat().st_mtime_ns for v in export.VARIANTS}
    assert export.verify_manifest(out / "float16") == [] and after["float16"] != before["float16"]
    assert after["fp32"] == before["fp32"] and after["uint8"] == before["uint8"]


def test_manifest_detects_tampering(tiny, tmp_path):
    export.export_tfjs(tiny, tmp_path / "m")
    shard = next((tmp_path / "m").glob("*.bin"))
    shard.write_bytes(shard.read_bytes()[:-4] + b"\0\0\0\1")
    assert any("sha256" in e for e in export.verify_manifest(tmp_path / "m"))


def test_export_is_atomic_on_failure(tiny, tmp_path, monkeypatch):
    out = tmp_path / "keep"
    export.export_tfjs(tiny, out)
    before = sorted(p.name for p in out.iterdir())

    def boom(*a, **k):
        raise RuntimeError("disk full")

    import tensorflowjs.converters.converter as conv

    monkeypatch.setattr(conv, "dispatch_keras_h5_to_tfjs_layers_model_conversion", boom)
    with pytest.raises(RuntimeError):
        export.export_tfjs(tiny, out, "uint8")
    assert sorted(p.name for p in out.iterdir()) == before
    assert json.loads((out / "manifest.json").read_text())["variant"] == "fp32"
    assert [p.name for p in tmp_path.iterdir()] == ["keep"]


def test_export_split_writes_head_tail_and_cut(tiny, tmp_path):
    names = [l.name for l in tiny.layers]
    first = min(("m_b1x1", "m_b3x3_reduce"), key=names.index)
    info = export.export_split(tiny, tmp_path / "s", first, "float16")
    assert info["cut"] == sorted(["c1_relu", first], key=names.index)
    for part in ("head", "tail"):
        assert export.verify_manifest(tmp_path / "s" / part) == []
    mj = json.loads((tmp_path / "s" / "tail" / "model.json").read_text())
    assert len(mj["modelTopology"]["model_config"]["config"]["input_layers"]) == 2
    assert json.loads((tmp_path / "s" / "split.json").read_text())["variant"] == "float16"


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(InputError, match="missing.h5"):
        export.load_model(tmp_path / "missing.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(InputError, match="bad.h5"):
        export.load_model(bad)
    with pytest.raises(InputError, match="int4"):
        export.variant_name("int4")


@pytest.mark.parametrize("dtype", ["float32", "float16", "uint8"])
@pytest.mark.parametrize("codec", ["none", "zlib", "zstd", "lz4"])
def test_split_tensor_codec_round_trip(dtype, codec):
    x = np.random.default_rng(2).normal(size=(2, 6, 6, 8)).astype("float32")
    body, headers = serve_http.encode_tensor(x, dtype, codec)
    back = serve_http.decode_tensor(body, headers, (6, 6, 8))
    tol = {"float32": 0, "float16": 2e-3 * np.abs(x).max(), "uint8": (x.max() - x.min()) / 255}[dtype]
    assert back.shape == x.shape and np.abs(back - x).max() <= tol + 1e-7


def test_split_tensor_rejects_bad_payloads():
    x = np.ones((1, 4, 4, 2), np.float32)
    body, h = serve_http.encode_tensor(x)
    with pytest.raises(InputError, match="X-Shape"):
        serve_http.decode_tensor(body, {**h, "X-Shape": "1,4,4,3"}, (4, 4, 2))
    with pytest.raises(InputError, match="needs 128"):
        serve_http.decode_tensor(body[:-4], h, (4, 4, 2))
    with pytest.raises(InputError, match="X-Dtype"):
        serve_http.decode_tensor(body, {**h, "X-Dtype": "int64"}, (4, 4, 2))
    with pytest.raises(InputError, match="X-Codec"):
        serve_http.decode_tensor(body, {**h, "X-Codec": "brotli"}, (4, 4, 2))
    with pytest.raises(InputError, match="zlib"):
        serve_http.decode_tensor(b"xx", {**h, "X-Codec": "zlib"}, (4, 4, 2))
    nan = x.copy()
    nan[0, 0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        serve_http.decode_tensor(nan.astype("<f4").tobytes(), h, (4, 4, 2))  # encode_tensor refuses NaN
    qb, qh = serve_http.encode_tensor(x, "uint8")
    with pytest.raises(InputError, match="X-Scale"):
        serve_http.decode_tensor(qb, {k: v for k, v in qh.items() if k != "X-Scale"}, (4, 4, 2))
    with pytest.raises(InputError, match="batch"):
        serve_http.decode_tensor(b"", {**h, "X-Shape": "0,4,4,2"}, (4, 4, 2))


def test_cli_export_errors_and_table(tiny, tmp_path, capsys):
    from hybridlib import cli

    assert cli.main(["export", str(tmp_path / "none.h5"), "--out", str(tmp_path / "o")]) == 2
    assert "none.h5" in capsys.readouterr().err and not (tmp_path / "o").exists()
    h5 = tmp_path / "tiny.h5"
    tiny.save(h5)
    assert cli.main(["export", str(h5), "--out", str(tmp_path / "o"), "--split", "bogus"]) == 2
    assert "bogus" in capsys.readouterr().err and not (tmp_path / "o").exists()
    assert cli.main(["export", str(h5), "--out", str(tmp_path / "o"), "--quantize", "all"]) == 0
    out = capsys.readouterr().out
    assert "fp32" in out and "uint8" in out and "ratio" in out
    assert export.verify_manifest(tmp_path / "o" / "uint8") == []


def test_quantize_vocabularies_meet_in_one_place():
    """Variant names (fp32/float16/uint8) and converter settings (none/float16/uint8) round-trip."""
    for v in export.VARIANTS:
        assert export.variant_name(export.quantize_of(v)) == v
    assert export.quantize_of("fp32") == "none" and export.quantize_of("none") == "none"
    assert export.quantize_of("uint8") == "uint8"
    with pytest.raises(InputError, match="int4"):
        export.quantize_of("int4")


def test_shard_size_keeps_a_model_within_six_files():
    """TF.js fetches every shard at once and reads none until all answered: more than six
    shards over HTTP/1.1 (six connections per host) can hang the load, so exports stay ≤ 6."""
    from hybridlib.export.tfjs import MAX_SHARDS, MIN_SHARD_BYTES, shard_size

    assert shard_size(1000) == MIN_SHARD_BYTES  # small models keep TF.js' usual 4 MiB files
    for total in (25_000_000, 249_500_000, 553_000_000):
        s = shard_size(total)
        assert s % 4096 == 0 and -(-total // s) <= MAX_SHARDS


def test_pick_splits_always_includes_a_multi_tensor_cut():
    """A sample of splits keeps one cut where several tensors cross (inside an Inception module),
    found from the graph rather than from layer names."""
    from hybridlib import models
    from hybridlib.export.parity import pick_splits
    from hybridlib.models.networks import cut_sets

    m = models.emotion_cnn()
    sets = cut_sets(m)
    for limit in (3, 4, 8):
        picked = pick_splits(m, limit)
        assert len(picked) <= limit and any(len(sets[p]) > 1 for p in picked), (limit, picked)
