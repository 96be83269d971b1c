# %% [markdown]
# # 06 · Early exit: answer easy faces on the device, ship the rest (BranchyNet / Edgent)
#
# Seed 004 extends **BranchyNet**: a side branch on the edge model answers when it is confident
# (normalised entropy below a threshold found by search); otherwise the intermediate tensor —
# "an order of magnitude smaller than the original image" in their ResNet/MobileNet setting — goes
# to the cloud, which finishes the inference. They report **95% of inputs exiting at the edge and
# up to 40× less bandwidth**. **Edgent** adds a planner: given a latency deadline and the network,
# pick the exit *and* the split point that maximise accuracy.
#
# Here the side branch (`exit1`: conv → pool → global average pool → softmax) sits on the trained
# emotion CNN of 01 at `pool3` (parameter `branch_at`) and is trained with the trunk **frozen** (Edgent-style,
# fast). At `pool2` the branch is cheaper but much weaker: on the quick preset's validation split it let only
# ~12% of inputs exit under the same rule, against ~64% at `pool3` (measured once while building this
# notebook, 4 epochs, 64 filters). The library is `hybridlib.study.early_exit.branches`; rules and formulas are in its docstring.

# %% parameters
preset = "quick"      # smoke | quick | full
data_path = None      # FER-2013 csv or folder; None → synthetic
reports_dir = None    # default: reports/<preset>/
branch_at = "pool3"   # where the side branch reads the trunk (pool2 also works: cheaper, weaker)
exit_max_train = 6000  # cap on branch-training images (0: all of train), keeps the run short
tolerance = 0.01      # threshold rule: overall accuracy may drop at most this much below the final exit's
converter_channels = None  # None → (1, 4) at smoke, (1, 2, 4) otherwise (8 with this training, 16 and 32 with the earlier one: never chosen; each C ~25 s)
converter_max_train = 4000  # cap on converter-training images (features computed once; 1500 left the branch weaker)
converter_epochs = None     # joint-loss epochs: None → 1 at smoke, 5 otherwise
max_exit = 0.95             # the operating point ships ≥ 5% of inputs (004's 95% exit), so a converter path exists
exec_networks = None   # executed in Chromium (phone): None → ("lte",) at smoke, ("3g", "lte", "wifi") otherwise
exec_deadlines = (50, 100, 200, 500)
exec_repeats = None   # timed reps per cut and network (None → 2 at smoke, 3 otherwise; +1 warm-up)
video_seconds = 3.0   # cloud stream measured here when 07 has not run (one user)
exec_inputs = None    # test faces run through the early-exit page per network (None → 12 at smoke, 24 otherwise)

# %%
import time

import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from hybridlib import config, models, partition, plots
from hybridlib.study.early_exit import branches as early_exit
from hybridlib.study.offload import scenarios as offload
from hybridlib.study.early_exit import figures as eefig
from hybridlib.profiling import profile
from hybridlib.models import artifacts as train  # save/load live in models.artifacts

t_start = time.perf_counter()
ctx = config.context(preset, data_path=data_path, reports_dir=reports_dir)
plots.setup_style()
ds = ctx.dataset()
(x_train, y_train), (x_val, y_val), (x_test, y_test) = ds.split("train"), ds.split("val"), ds.split("test")
model_path = train.ensure_model(ctx)
trunk_model = train.load_model(model_path)
branchy = early_exit.add_branch(trunk_model, at=branch_at)
t0 = time.perf_counter()
hist = early_exit.train_branch(branchy, branch_at, x_train, y_train, epochs=ctx.preset.exit_epochs,
                               max_train=exit_max_train)
train_s = time.perf_counter() - t0
display(Markdown(f"**Data:** {ctx.data_label}" + (" — **SYNTHETIC, not FER-2013**" if ds.synthetic else "") +
                 f". Branch at `{branch_at}` trained {ctx.preset.exit_epochs} epoch(s) on {hist['n_train']:,} "
                 f"images in {train_s:.1f} s (trunk frozen); last training accuracy {hist['accuracy'][-1]:.3f}."))

# %% [markdown]
# ## Entropy threshold
# An input exits at the branch when the branch's normalised entropy is **below** T. The threshold is
# chosen on the **validation** split by the rule: *highest edge-exit fraction whose overall accuracy
# stays within `tolerance` (1 point) of the final exit's; ties → smaller T*. It is then applied
# unchanged to the **test** split, whose numbers are the ones reported.

# %%
thresholds = np.linspace(0, 1, 41)
pe_val, pf_val = early_exit.predict_both(branchy, x_val)
pe_test, pf_test = early_exit.predict_both(branchy, x_test)
sweep_val = early_exit.threshold_sweep(pe_val, pf_val, y_val, thresholds)
sweep_test = early_exit.threshold_sweep(pe_test, pf_test, y_test, thresholds)
chosen = early_exit.choose_threshold(sweep_val, tolerance=tolerance)
T = chosen["threshold"]
at_T = sweep_test.set_index("threshold").loc[T]
ctx.save_table("06_threshold_sweep", pd.concat([sweep_val.assign(split="val"), sweep_test.assign(split="test")]))

fig = eefig.threshold_sweep({"validation": sweep_val, "test": sweep_test}, T,
                            f"Early exit at {branch_at}: exit fraction and accuracy vs threshold ({ctx.data_label})")
ctx.save_figure(fig, "06_threshold")
display(Markdown(f"Chosen **T = {T:.3f}** (validation). On **test**: {at_T.exit_fraction:.1%} of inputs exit at "
                 f"the branch; overall accuracy {at_T.overall_acc:.3f} vs final exit {at_T.final_acc:.3f} and "
                 f"branch alone {at_T.branch_acc:.3f}. Seed 004 reports 95% at the edge (different models and data)."))

# %% [markdown]
# ## Bandwidth per frame
# Cloud-only sends every face crop as uint8 pixels (48×48 = 2,304 B). With early exit only the
# non-exited inputs go up — either the branch-point tensor (float32, float16, or per-tensor uint8
# with and without zlib; sizes measured on real test activations) or the face crop itself.
# **Caveat:** this CNN's input is tiny, so its branch-point tensor (`pool3`: 6×6×192 = 6,912 values;
# `pool2`: 12×12×64 = 9,216) is *larger* than the pixels; shipping features only saves bandwidth when enough inputs exit. 004's "order of
# magnitude smaller" holds for large camera images and narrow converter layers, not here.

# %%
feats = early_exit.trunk_to(branchy, branch_at).predict(models.preprocess(x_test[:200]), verbose=0)
fsizes = early_exit.feature_bytes(feats)
bw = early_exit.bandwidth_table(float(at_T.exit_fraction), fsizes, pixel_bytes=float(x_test[0].size))
ctx.save_table("06_bandwidth", bw)
display(bw.round(3))
fig = eefig.bandwidth(bw, f"Uplink per frame at T = {T:.3f} ({at_T.exit_fraction:.0%} exit) — {ctx.data_label}")
ctx.save_figure(fig, "06_bandwidth")

# %% [markdown]
# ## Deadline-driven exit × split planner (Edgent)
# Per-layer device/cloud milliseconds and output bytes come from the profile 04/05 use (made at this
# preset if missing), in 05's main scenario *phone + fast server* (device ×10, cloud load 0.1 — a
# what-if, see 05). The trunk is collapsed to segments between clean cut points; the branch head is
# timed in this process (device cost ×10 likewise). Latency uses the §5 transfer formula. Each exit's
# accuracy is its test accuracy alone (Edgent right-sizes the model: every input leaves at the chosen exit).
# On this synthetic data and short training the branch may be barely above chance; the planner only trades it
# in when nothing more accurate meets the deadline.

# %%
PHONE, LOAD = offload.SCENARIOS[offload.MAIN_SCENARIO]  # 05's main scenario, one definition
prof = profile.ensure_profile(ctx, "emotion_cnn")
graph0 = profile.to_graph(prof, "emotion_cnn", input_itemsize=1)
graph = partition.scale(graph0, device=PHONE)
cuts = [c for c in models.chain_cut_points(trunk_model) if c in set(graph.ids)]
trunk = early_exit.trunk_from_graph(graph, cuts)
# the head is timed here with all threads (like the cloud side); its device cost uses the trunk's measured
# device/cloud ratio, then the same ×PHONE
head_ms = early_exit.head_ms(early_exit.branch_head(branchy), repeats=ctx.preset.profile_repeats)
dev_ratio = sum(n.device_ms for n in graph0.nodes) / max(sum(n.cloud_ms for n in graph0.nodes), 1e-9)
exits = [early_exit.Exit("exit1", branch_at, float(at_T.branch_acc), device_ms=PHONE * dev_ratio * head_ms,
                         cloud_ms=head_ms),
         early_exit.Exit("final", trunk[-1]["id"], float(at_T.final_acc))]
deadlines = [5, 10, 15, 20, 50, 100, 200, 500]
plans = pd.DataFrame([early_exit.plan(trunk, exits, net, d, load=LOAD).to_dict()
                      for net in partition.NETWORKS for d in deadlines])
plans["choice"] = np.where(plans.feasible, plans["exit"] + " · " + plans["where"] + " @" + plans["split_after"], "— (none meets it)")
ctx.save_table("06_planner", plans)
display(plans.pivot_table(index="network", columns="deadline_ms", values="choice", aggfunc="first"))
display(plans.pivot_table(index="network", columns="deadline_ms", values="latency_ms", aggfunc="first").round(1))

# %% [markdown]
# ## 004's converter: a C-channel bottleneck at the offload point
# The design 004 describes, on this CNN: the edge runs the trunk to `pool3`, the side branch and a 1×1-conv
# **encoder to C channels**; a non-exited input ships that 6×6×C code, quantised with the wire codec's
# per-tensor uint8 and a lossless codec, one request per input; the cloud **restores** it (1×1 conv back to
# 192 channels) and runs the unchanged tail. Branch (warm-started from `exit1` above) + encoder + restore train
# with the joint weighted loss (`converter_epochs` on `converter_max_train` images; on 1,500 images × 3 epochs the
# branch lost accuracy and C ≤ 4 cost more than a point; with 4,000 × 6, C = 8 was never chosen — measured once),
# **trunk and tail frozen** (why, and what that means for the joint loss: `hybridlib.study.early_exit.converter`'s docstring).
# Every byte below is a real encoded body (+ the X-Shape/X-Scale/X-Zero-Point header values) and every
# accuracy is measured after the decode — the quantisation error is in it. Codec per C: the smallest on
# validation. The operating point: fewest bytes per input with overall accuracy ≥ final-exit-only − 1 point and
# at most `max_exit` (95%, 004's share) of inputs exiting, chosen on **validation**, reported on **test**. Why the
# cap: on this synthetic data the trained branch can be as accurate as the (short-trained) final exit, and then the
# bare rule exits every input — zero bytes, no converter left to ship or execute; the notebook says when that is so.

# %%
import json

from hybridlib.profiling import devices
from hybridlib.study.early_exit import converter

chans = tuple(converter_channels or ((1, 4) if ctx.preset.name == "smoke" else (1, 2, 4)))
conv_epochs = int(converter_epochs or (1 if ctx.preset.name == "smoke" else 5))
t0 = time.perf_counter()
c_head, c_tail = converter.split_trunk(trunk_model, branch_at)
rng = np.random.default_rng(0)
idx = rng.permutation(len(y_train))[:converter_max_train]
f_train = c_head.predict(models.preprocess(x_train[idx]), batch_size=256, verbose=0)
f_val = c_head.predict(models.preprocess(x_val), batch_size=256, verbose=0)
f_test = c_head.predict(models.preprocess(x_test), batch_size=256, verbose=0)
ref_val = float((c_tail.predict(f_val, verbose=0).argmax(1) == y_val).mean())
ref_test = float((c_tail.predict(f_test, verbose=0).argmax(1) == y_test).mean())
curves, conv_info, convs = [], [], {}
for C in chans:
    cv = converter.build(c_head, c_tail, branch_at, C, init_branch=early_exit.branch_head(branchy))
    h = converter.train(cv, f_train, y_train[idx], epochs=conv_epochs)
    ev = {"val": converter.evaluate(cv, f_val), "test": converter.evaluate(cv, f_test)}
    codec = min(ev["val"]["codec"], key=lambda k: ev["val"]["codec"][k].mean())
    convs[C] = cv
    for split, e, y in (("val", ev["val"], y_val), ("test", ev["test"], y_test)):
        cu = converter.operating_curve(early_exit.entropy(e["p_exit"]), e["p_exit"].argmax(1) == y,
                                       e["p_final"].argmax(1) == y, e["codec"][codec], thresholds)
        curves.append(cu.assign(channels=C, codec=codec, split=split))
    conv_info.append({"channels": C, "codec": codec, "code_shape": list(cv.encoder.output.shape[1:]),
                      "bytes_shipped_by_codec_test": {k: float(v.mean()) for k, v in ev["test"]["codec"].items()},
                      "converter_acc_test": float((ev["test"]["p_final"].argmax(1) == y_test).mean()),
                      "converter_acc_fp32_test": float((ev["test"]["p_final_fp32"].argmax(1) == y_test).mean()),
                      "branch_acc_test": float((ev["test"]["p_exit"].argmax(1) == y_test).mean()),
                      "quant_max_abs_err": ev["test"]["quant_max_abs_err"], "final_loss": h["loss"][-1]})
conv_train_s = time.perf_counter() - t0
curve = pd.concat(curves, ignore_index=True)
ctx.save_table("06_converter_curve", curve)
op_val = converter.choose_operating_point(curve[curve.split == "val"], ref_val, budget=tolerance, max_exit=max_exit)
# is the branch alone within the budget? then the rule without max_exit would exit every input (0 bytes)
val_all = curve[(curve.split == "val") & (curve.exit_fraction >= 1.0)]
branch_alone_ok = bool((val_all.overall_acc >= ref_val - tolerance - 1e-12).any())
op = curve[(curve.split == "test") & (curve.channels == op_val["channels"]) &
           (curve.threshold == op_val["threshold"])].iloc[0].to_dict()
display(pd.DataFrame(conv_info).round(4))

# %% [markdown]
# ### Against shipping the picture
# The alternatives per input: the 48×48 crop raw, as PNG, as JPEG (OpenCV, quality 90), and the cloud mode's
# measured video bytes per frame (whole camera frame, VP8 over WebRTC): 07's load study when it ran in this reports
# dir, else a short stream measured here (`converter.measure_video_bytes`: the real cloud app in-process, one aiortc
# user sending 07's synthetic clip at the preset's fps and frame size for `video_seconds`).

# %%
imgs = converter.image_bytes(x_test)
p07 = ctx.results_dir / "07_load.json"
video = converter.video_bytes_per_frame(json.loads(p07.read_text())) if p07.is_file() else None
if video:
    video["source"] = f"07's load study ({p07.name}, this reports dir), fewest-users cloud step"
else:  # 07 has not run here: measure a short real stream (one aiortc user, 07's clip, fps and frame size)
    try:
        video = converter.measure_video_bytes(model_path, fps=ctx.preset.load_fps, size=tuple(ctx.preset.load_size),
                                              duration_s=video_seconds)
    except Exception as e:  # noqa: BLE001 — recorded, visible in summary.md
        ctx.skip("06 cloud video bytes", f"{type(e).__name__}: {e}", required=False)
alts = converter.alternatives_bytes(imgs, video)
op["channels"] = int(op["channels"])
savings = converter.savings(alts, op["bytes_per_input"])  # None: nothing shipped (all exit)
fig = eefig.converter_curves(curve, alts, op, ref_test, tolerance, f"004's converter on this CNN — {ctx.data_label}")
ctx.save_figure(fig, "06_converter")
display(Markdown(
    (f"**The branch alone is within the budget on validation** (everything could exit, 0 bytes); the cap "
     f"max_exit = {max_exit:.0%} keeps a converter path. " if branch_alone_ok else "") +
    f"**Operating point (chosen on validation):** C = {op['channels']} ({op['codec']}), T = {op['threshold']:.3f}. "
    f"On test: {op['exit_fraction']:.1%} exit at the edge, overall accuracy {op['overall_acc']:.3f} vs final-exit-only "
    f"{ref_test:.3f} (loss {ref_test - op['overall_acc']:+.3f}), **{op['bytes_per_input']:.1f} B per input** "
    f"({op['bytes_shipped']:.0f} B per shipped input, NaN = none shipped). Saving: " +
    ", ".join(f"×{v:.1f} vs {k}" if v else f"nothing shipped vs {k}" for k, v in savings.items()) +
    (f" (video: {video['bytes_per_frame']:.0f} B/frame at {video['frame_size'][0]}×{video['frame_size'][1]}, "
     f"{video['fps']:.0f} fps — {video['source']})" if video else " (video bytes: not measured, see summary)") +
    f". Seed 004: 95% at the edge, up to 40× (ResNet/MobileNet, real images). "
    + ("**Synthetic data.**" if ds.synthetic else "")))

# %% [markdown]
# ### Expected latency per network and device class
# Device: the trunk to `pool3` from the 04 profile (this machine's TF CPU), the branch + encoder timed here,
# each × the device class's CPU throttle (desktop 1×, phone 4×, low-end 10×: the executed-split classes).
# Cloud: tail + restore as measured (load 1). Transfer: §5 formula with the network presets. *Predicted with
# native TF × throttle*, which the executed sample at the end shows to be optimistic for a TF.js (wasm) page; the
# Edgent section below also predicts from the phone's throttled wasm profile, and the end of this notebook runs it.

# %%
graph_nodes = {n.id: n for n in graph0.nodes}
ids0 = [n.id for n in graph0.nodes]
k_at = ids0.index(branch_at)
trunk_dev_ms = sum(n.device_ms for n in graph0.nodes[:k_at + 1])
tail_cloud_ms = sum(n.cloud_ms for n in graph0.nodes[k_at + 1:])
cv_op = convs[op["channels"]]
edge_heads_ms = early_exit.head_ms(cv_op.branch, repeats=ctx.preset.profile_repeats) + \
    early_exit.head_ms(cv_op.encoder, repeats=ctx.preset.profile_repeats)
restore_ms = early_exit.head_ms(cv_op.restore, repeats=ctx.preset.profile_repeats)
crop_cloud_ms = sum(n.cloud_ms for n in graph0.nodes)
lat_rows = []
for dname, dc in devices.DEVICES.items():
    edge_ms = dc.cpu_throttle * (trunk_dev_ms + dev_ratio * edge_heads_ms)
    for net in partition.NETWORKS:
        e = converter.expected_latency_ms(edge_ms, op["exit_fraction"], op["bytes_shipped"] if op["exit_fraction"] < 1 else 0.0,
                                          tail_cloud_ms + restore_ms, net)
        cloud_png = converter.expected_latency_ms(0.0, 0.0, imgs["png"], crop_cloud_ms, net)
        lat_rows.append({"device": dname, "network": net, **e, "cloud_png_ms": cloud_png["expected_ms"],
                         "device_only_ms": dc.cpu_throttle * sum(n.device_ms for n in graph0.nodes)})
lat = pd.DataFrame(lat_rows)
ctx.save_table("06_converter_latency", lat)
display(lat.round(1))

# %% [markdown]
# ## Edgent with the converter vs Neurosurgeon's single cut
# Options per device class and network: *device-only* (final exit), *cloud-only* (PNG crop up), every clean
# single cut of the final-exit model shipping the raw cut tensor as uint8+zlib (**Neurosurgeon**: no exits), the
# **branch alone** on the device (its accuracy), and **early exit + converter** at the operating point. A
# per-input deadline must hold for the inputs that do *not* exit, so Edgent checks the **worst-case** latency
# (`worst_ms`). Accuracy of each option is measured on test.
#
# Three **cost models** (`hybridlib.study.early_exit.edgent`): *tf×throttle* — this machine's native TF CPU time × the
# class's throttle rate (what this notebook first used); *wasm profile* — the device side from the per-layer TF.js
# (wasm) profile of the **phone** class taken in Chromium under its DevTools CPU throttling (the page the plans
# execute in) and the edge model (trunk → exit + encoder) timed whole the same way, scaled by throttle ratio for the
# other classes; *wasm profile + served tails* — also the cloud side as
# the server runs it (the chain model's Keras tail per cut through the server's own `TailRunner`, the `server_ms` a
# `/split` request reports; the per-layer profile times compiled layers, the server calls the tail eagerly). The
# executed sample below tells which one predicts the page; the table and figure use the last one Chromium allowed.
# With served tails, single cuts are offered where the tail was timed: the input, each pooling layer, the converter.

# %%
from hybridlib.study.early_exit import converter_exec, execute as exit_exec
from hybridlib.study.early_exit import edgent as edg
from hybridlib.study.split import analysis as splitstudy

uint8_cut_bytes = {c["id"]: c["out_bytes"] / 4.0 + 40 for c in trunk}  # float32 profile bytes → uint8 + header values (approx.)
branch_acc_op = float(conv_info[chans.index(op["channels"])]["branch_acc_test"])
# each cost model: {device class: (device ms per trunk segment, edge ms)} and the cloud side per cut (None: profile)
cost_models = {"tf×throttle": ({dname: ([dc.cpu_throttle * c["device_ms"] / PHONE for c in trunk],  # trunk was scaled ×PHONE
                                        dc.cpu_throttle * (trunk_dev_ms + dev_ratio * edge_heads_ms))
                                for dname, dc in devices.DEVICES.items()}, None)}
wasm_info = None
# the operating point's bundle (edge model + chain model + exit.json): profiled here, executed and served below
C_op = op["channels"]
conv_dir = ctx.artifacts_dir / "converter"
chain_h5 = converter_exec.save_chain(trunk_model, convs[C_op], conv_dir / f"emotion_cnn_conv{C_op}.h5")
bundle = exit_exec.save_bundle(trunk_model, convs[C_op], float(op["threshold"]), conv_dir / "exit_bundle",
                               extra={"data": ctx.data_label, "synthetic": bool(ds.synthetic), "preset": ctx.preset.name})
try:
    t0 = time.perf_counter()
    g_wasm = splitstudy.device_graph(ctx, "emotion_cnn", "phone")  # cached; 09 uses the same file
    nodes_w = list(g_wasm.nodes)
    ids_w = [n.id for n in nodes_w]
    trunk_w = early_exit.trunk_from_graph(g_wasm, cuts)
    assert [c["id"] for c in trunk_w] == [c["id"] for c in trunk], "wasm profile's cut points differ"
    wasm_to_at = sum(n.device_ms for n in nodes_w[:ids_w.index(branch_at) + 1])
    # the edge model (trunk to the exit + branch + encoder) is not in the trunk's profile: time it whole, the same way
    edge_prof = exit_exec.profile_edge_ms(bundle, "phone", runs=ctx.preset.profile_repeats)
    phone_rate = devices.get_device("phone").cpu_throttle
    cost_models["wasm profile"] = ({dname: ([dc.cpu_throttle / phone_rate * c["device_ms"] for c in trunk_w],
                                            dc.cpu_throttle / phone_rate * edge_prof["median_ms"])
                                    for dname, dc in devices.DEVICES.items()}, None)
    wasm_info = {"phone_model_ms": sum(n.device_ms for n in nodes_w), "phone_to_exit_ms": wasm_to_at,
                 "phone_edge_model_ms": edge_prof["median_ms"], "s": time.perf_counter() - t0}
except Exception as e:  # noqa: BLE001 — recorded, visible in summary.md
    ctx.skip("06 wasm device profile", f"{type(e).__name__}: {e}", required=False)
# the cloud side as the server runs it: the chain model's tail, timed through the server's own TailRunner, at the
# input (cloud-only), each pooling boundary and the converter cut (the cuts this model offers)
tail_cuts = [trunk[0]["id"]] + [c["id"] for c in trunk[1:-1] if c["id"].startswith("pool")] + [f"conv_enc{C_op}"]
served_tails = edg.served_tail_ms(chain_h5, tail_cuts, repeats=ctx.preset.profile_repeats)
if "wasm profile" in cost_models:
    cost_models["wasm profile + served tails"] = (cost_models["wasm profile"][0], served_tails)
MAIN_COST = list(cost_models)[-1]
ed_rows = []
for cm, (per_dev, tails) in cost_models.items():
    for dname, (seg_ms, edge_ms) in per_dev.items():
        for net in partition.NETWORKS:
            opts = edg.options(seg_ms, trunk, edge_ms, net, ref_acc=ref_test, op=op, branch_acc=branch_acc_op,
                               crop_bytes=imgs["png"], crop_cloud_ms=crop_cloud_ms,
                               tail_cloud_ms=tail_cloud_ms + restore_ms, cut_bytes=uint8_cut_bytes,
                               tail_ms=tails, converter_cut=f"conv_enc{C_op}")
            ed_rows += edg.plan_rows(opts, deadlines, cost_model=cm, device=dname, network=net)
edgent_all = pd.DataFrame(ed_rows)
edgent = edgent_all[edgent_all.cost_model == MAIN_COST].reset_index(drop=True)
ctx.save_table("06_edgent", edgent_all)
display(Markdown(f"Cost model of the table and figure: **{MAIN_COST}**; the server's tail per cut (ms, as served): "
                 + ", ".join(f"{k} {v:.1f}" for k, v in served_tails.items()) + ". Device side" +
                 (f" (phone, whole model {wasm_info['phone_model_ms']:.1f} ms in wasm vs "
                  f"{devices.get_device('phone').cpu_throttle * sum(n.device_ms for n in graph0.nodes):.1f} ms by native TF × 4)" if wasm_info
                  else ": native TF × throttle (no wasm profile)") + "."))
display(edgent[edgent.device == "phone"].pivot_table(index="network", columns="deadline_ms", values="edgent", aggfunc="first"))
fig = eefig.edgent_accuracy(edgent, f"Accuracy vs deadline (predicted, worst-case latency, {MAIN_COST}) — {ctx.data_label}")
ctx.save_figure(fig, "06_edgent")

# %% [markdown]
# ## Executed in Chromium: early exit in the page, the converter cut, and a sample of Edgent's plans
# **Early exit, executed** (`hybridlib.study.early_exit.execute`): the operating point is written as a bundle — the edge
# model (trunk → `exit1` softmax + the C-channel code, one TF.js graph), the chain model the server's tail runs, and
# `exit.json` (C, T, wire). The benchmark page (`/split.html`, `hlSplit.stepExit`) runs the edge model on real
# **test faces** in TF.js (wasm) under the phone's DevTools CPU throttling and each network preset, computes the
# branch's entropy in the page and answers there when it is below T; otherwise it encodes the code as uint8 + zlib
# and POSTs it to the real server's `/split/conv_encC` (restore + tail). The same bundle is what
# `hybridlib serve --mode exit` serves to the app. The page's branch probabilities and codes (before quantisation)
# are compared with Keras on the same inputs.
#
# **Single cuts** run on the converter folded into one chain model (`trunk → pool3 → conv_encC → conv_decC → tail`,
# `hybridlib.study.early_exit.converter_exec`) with the executed-split machinery: device-only = the output cut, cloud-only = the
# `input` cut (the page uploads the uint8 crop + zlib, not a PNG), single cuts = that layer. Edgent's sampled plans
# (phone; each network; a few deadlines; both cost models) are measured by those runs: the converter option by
# the median total of the inputs the page **shipped** (the worst case the deadline is checked on), the branch alone
# by the edge model's median time.

# %%
from hybridlib import browser
from hybridlib.study.early_exit import execute as exit_exec

exec_res = None
exec_repeats = int(exec_repeats or (2 if ctx.preset.name == "smoke" else 3))
exec_networks = tuple(exec_networks or (("lte",) if ctx.preset.name == "smoke" else ("3g", "lte", "wifi")))
exec_inputs = int(exec_inputs or (12 if ctx.preset.name == "smoke" else 24))
try:
    if not browser.have_chromium():
        raise RuntimeError("Chromium not found")
    out_layer = trunk_model.layers[-1].name
    t0 = time.perf_counter()
    xin, yin = models.preprocess(x_test[:exec_inputs]), y_test[:exec_inputs]
    xe = exit_exec.execute(bundle, xin, y=yin, devices=("phone",), networks=exec_networks)
    exit_s = time.perf_counter() - t0
    xs = exit_exec.summarize(xe)
    # the library on the same inputs: Keras edge model, entropy rule, the wire round trip's tail answer
    pk, ck = exit_exec.edge_model(trunk_model, convs[C_op]).predict(xin, verbose=0)
    hk = early_exit.entropy(pk)
    ev_op = converter.evaluate(convs[C_op], f_test[:exec_inputs], codecs=("zlib",))
    keras_ok = np.where(hk < op["threshold"], pk.argmax(1) == yin, ev_op["p_final"].argmax(1) == yin)
    first = xe[xe.network == exec_networks[0]]
    page_vs_keras = {"n": int(exec_inputs), "branch_probs_max_abs": float(np.abs(xe.attrs["branch_probs"] - pk).max()),
                     "code_max_abs": float(np.abs(xe.attrs["codes"] - ck).max()), "code_abs_max": float(np.abs(ck).max()),
                     "entropy_max_abs": float(np.abs(first.entropy.to_numpy() - hk).max()),
                     "decision_agreement": float((first.exited.to_numpy() == (hk < op["threshold"])).mean()),
                     "keras_exit_fraction": float((hk < op["threshold"]).mean()), "keras_acc": float(keras_ok.mean()),
                     "keras_bytes_per_input_zlib": float(np.where(hk < op["threshold"], 0, ev_op["codec"]["zlib"]).mean())}
    display(xs.round(3))
    display(Markdown(f"**Early exit in the page** (phone, {exec_inputs} test faces, T = {op['threshold']:.3f}, C = {C_op}): "
                     + "; ".join(f"{r.network}: {r.exit_fraction:.0%} answered in the page, accuracy {r.accuracy:.3f}, "
                                 f"{r.bytes_per_input:.0f} B/input up ({r.bytes_shipped:.0f} B per shipped), "
                                 f"exited in {r.exit_total_ms:.0f} ms, shipped in {r.ship_total_ms:.0f} ms (median)"
                                 for r in xs.itertuples())
                     + f". Keras on the same faces: {page_vs_keras['keras_exit_fraction']:.0%} exit, accuracy "
                       f"{page_vs_keras['keras_acc']:.3f}; page vs Keras: branch probabilities max |Δ| "
                       f"{page_vs_keras['branch_probs_max_abs']:.1e}, code max |Δ| {page_vs_keras['code_max_abs']:.1e} "
                       f"(|code| ≤ {page_vs_keras['code_abs_max']:.1f}), decisions agree on "
                       f"{page_vs_keras['decision_agreement']:.0%}."))
    # single cuts on the chain model: the converter cut and every cut a sampled plan needs
    sample = edgent_all[(edgent_all.device == "phone") & edgent_all.deadline_ms.isin(exec_deadlines)].copy()
    sample["cut"] = sample.edgent.map(lambda n: edg.cut_of(n, out_layer))
    cuts_run = sorted({f"conv_enc{C_op}", *[c for c in sample.cut.dropna()]}, key=str)
    t0 = time.perf_counter()
    xdf = converter_exec.execute(chain_h5, C_op, devices=("phone",), networks=tuple(exec_networks),
                                 repeats=exec_repeats, warmup=1, extra_cuts=tuple(c for c in cuts_run if c != f"conv_enc{C_op}"),
                                 cache_dir=conv_dir)
    exec_s = time.perf_counter() - t0
    med = converter_exec.stage_medians(xdf)
    ctx.save_table("06_converter_executed", xdf.drop(columns=[c for c in xdf.columns if xdf[c].dtype == object and c not in
                                                               ("cut", "device", "network", "mode", "codec", "dtype")]))
    ctx.save_table("06_exit_executed", xe)
    display(med.round(1))
    exit_run = {r.network: {"ship_total_ms": r.ship_total_ms,
                            "edge_ms": float(xe[xe.network == r.network].head_ms.median())} for r in xs.itertuples()}
    sample, edgent_exec = edg.executed(sample, {(r.cut, r.network): r.total_ms for r in med.itertuples()},
                                       exit_run, out_layer)
    display(sample[["cost_model", "network", "deadline_ms", "edgent", "edgent_worst_ms", "measured_ms", "met"]].round(1))
    display(pd.DataFrame(edgent_exec).T)
    conv_row = med[med.cut == f"conv_enc{C_op}"]
    hit_rate = edgent_exec[MAIN_COST]["hit_rate"]
    exec_res = converter_exec.executed_result(xdf, C_op, exec_networks, exec_repeats, exec_s, sample, hit_rate,
                                              converter_exec.probs_vs_keras(xdf, chain_h5, C_op))
    exec_res.update({"edgent_cost_model": MAIN_COST, "edgent_by_cost_model": edgent_exec, "wasm_profile": wasm_info,
                     "served_tails_ms": served_tails,
                     "exit_page": {"summary": xs.to_dict("records"), "threshold": float(op["threshold"]),
                                   "codec": "uint8+zlib", "run_s": exit_s, "vs_keras": page_vs_keras,
                                   "bundle": str(bundle)}})
    display(Markdown(f"Converter cut C = {C_op} (every input ships) on **phone**: "
                     + "; ".join(f"{r.network}: {r.up_bytes:.0f} B up, head {r.head_ms:.1f} ms, encode {r.encode_ms:.1f}, "
                                 f"upload {r.upload_ms:.1f}, tail {r.tail_ms:.1f}, download {r.download_ms:.1f}, "
                                 f"total {r.total_ms:.1f} ms" for r in conv_row.itertuples())
                     + ". Edgent's executed plans (phone): "
                     + "; ".join(f"**{cm}**: deadline met in {v['hit_rate']:.0%} of {v['executed']} executed, "
                                 f"predicted/measured {v['pred_over_meas_median']:.2f} (median), {v['infeasible']} infeasible"
                                 for cm, v in edgent_exec.items() if v["hit_rate"] is not None) + "."))
except Exception as e:  # noqa: BLE001 — recorded, visible in summary.md
    ctx.skip("06 converter executed in Chromium", f"{type(e).__name__}: {e}")
    display(Markdown(f"**Executed part skipped:** {type(e).__name__}: {e}"))

# %%
runtime_s = time.perf_counter() - t_start
res = {
    "data_label": ctx.data_label, "synthetic": ds.synthetic, "branch_at": branch_at,
    "exit_epochs": ctx.preset.exit_epochs, "n_train": hist["n_train"], "branch_train_s": train_s,
    "threshold_rule": f"highest exit fraction with overall acc >= final acc - {tolerance} (validation); ties -> smaller T",
    "threshold": T, "tolerance": tolerance,
    "edge_exit_fraction": float(at_T.exit_fraction),
    "overall_acc": float(at_T.overall_acc), "branch_acc": float(at_T.branch_acc), "final_acc": float(at_T.final_acc),
    "exited_acc": float(at_T.exited_acc) if np.isfinite(at_T.exited_acc) else None,
    "val": {k: float(v) for k, v in chosen.items()},
    "sweep_test": sweep_test.to_dict("records"),
    "feature_shape": list(feats.shape[1:]), "pixel_bytes": float(x_test[0].size),
    "feature_bytes": fsizes,
    "bandwidth": {r.scheme: {"bytes_per_frame": r.bytes_per_frame, "reduction_vs_cloud": r.reduction_vs_cloud}
                  for r in bw.itertuples()},
    "planner_scenario": {"device_slowdown": PHONE, "load": LOAD, "head_ms_measured": head_ms,
                         "device_cloud_ratio": dev_ratio},
    "planner": plans.drop(columns="choice").to_dict("records"),
    "runtime_s": runtime_s,
    "converter": {
        "design": "exit1 + 1x1-conv encoder (C ch) at branch_at; uint8 wire codec + lossless; cloud 1x1 restore + frozen tail",
        "trunk": "frozen (trunk and tail); joint weighted loss w_exit=1, w_final=1 over branch+encoder+restore; branch warm-started from exit1",
        "channels": list(chans), "epochs": conv_epochs, "n_train": int(len(idx)), "train_s": conv_train_s,
        "reference_acc_val": ref_val, "reference_acc_test": ref_test, "per_channels": conv_info,
        "curve": curve.to_dict("records"), "budget": tolerance,
        "operating_point": {k: (float(v) if isinstance(v, (int, float, np.floating, np.integer)) else v) for k, v in op.items()},
        "operating_point_val": op_val, "max_exit": max_exit, "branch_alone_within_budget_val": branch_alone_ok,
        "accuracy_loss": ref_test - float(op["overall_acc"]),
        "alternatives_bytes": alts, "image_bytes": imgs, "video": video,
        "savings": savings,
        "latency": lat.to_dict("records"),
        "latency_inputs": {"trunk_device_ms_desktop": trunk_dev_ms, "edge_heads_ms": edge_heads_ms,
                           "tail_cloud_ms": tail_cloud_ms, "restore_ms": restore_ms, "device_cloud_ratio": dev_ratio},
        "edgent": edgent.to_dict("records"),
        "executed": exec_res,
    },
}
ctx.save_result("early_exit", res)
display(Markdown(f"**Edge exit fraction {res['edge_exit_fraction']:.1%}** at T = {T:.3f}; bandwidth reduction vs "
                 f"cloud-only: " + ", ".join(f"{k.replace('early exit + ', '')} ×{v['reduction_vs_cloud']:.2f}"
                                              for k, v in res["bandwidth"].items() if k.startswith("early")) +
                 f" (runtime {runtime_s:.0f} s)."))

# %% [markdown]
# ## Beside the seeds
# 004 reports up to 95% of test images answered at the edge and up to 40× less bandwidth (ResNet/MobileNet
# on real images, a phone GPU via TVM); Edgent plots accuracy against the deadline. Ours, measured here, on
# the data named in the title (synthetic when labelled so):

# %%
cv_res = res["converter"]
ex = cv_res["executed"] or {}
display(pd.DataFrame([
    {"claim": "inputs answered at the edge", "seed": "004: up to 95%",
     "here": f"{op['exit_fraction']:.1%} (converter operating point, test)" + (
         "; in the page: " + ", ".join(f"{r['network']} {r['exit_fraction']:.0%} ({r['bytes_per_input']:.0f} B/input)"
                                       for r in ex["exit_page"]["summary"]) if ex.get("exit_page") else "")},
    {"claim": "bandwidth saving vs the 48×48 crop", "seed": "004: up to 40×",
     "here": (f"×{savings['crop raw']:.1f} raw, ×{savings['crop JPEG q90']:.1f} vs JPEG" if savings["crop raw"] else
              "nothing shipped at the operating point")},
    {"claim": "vs cloud mode's video bytes per frame", "seed": "—",
     "here": (f"×{savings[converter.VIDEO_LABEL]:.0f} ({video['bytes_per_frame']:.0f} B/frame; {video['source']})"
              if savings.get(converter.VIDEO_LABEL) else "not measured" if not video else "nothing shipped")},
    {"claim": "accuracy loss at the operating point", "seed": "004: 'higher total accuracy'",
     "here": f"{cv_res['accuracy_loss']:+.3f} vs final exit only (budget {tolerance})"},
    {"claim": "Edgent plans meeting their deadline when executed", "seed": "Edgent: accuracy vs deadline figure",
     "here": ("; ".join(f"{cm}: {v['hit_rate']:.0%} of {v['executed']} (pred/meas {v['pred_over_meas_median']:.2f})"
                        for cm, v in ex["edgent_by_cost_model"].items() if v["hit_rate"] is not None) + " — phone"
              if ex.get("edgent_by_cost_model") else "not executed")},
]))
