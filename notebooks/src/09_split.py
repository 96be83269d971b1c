# %% [markdown]
# # 09 · The split, executed: predicted vs measured
#
# Notebook 05 *plans* partitions; here every plan is **executed** and checked.
#
# * **Device** = a headless Chromium page running the TF.js head on `wasm` (what the app runs),
#   slowed to a device class with DevTools CPU throttling (`phone` = 4×, Lighthouse's mobile
#   preset; `desktop` = 1×). **Cloud** = the server's native TF on all cores running the tail.
# * **Link** = DevTools network emulation of the engine's 3G / LTE / Wi-Fi presets (latency +
#   up/down throughput); every record names its shaper.
# * **Execution** (`hybridlib.study.split.execute.execute`): head in the page → one wire tensor → `POST
#   /split/<layer>` → tail on the server → probabilities back, per-stage times from the page and
#   the server. Cloud-only (cut = input) and device-only (cut = output) are the two end cuts.
# * **Prediction** (`hybridlib.study.split.predict`): the partition engine (`partition.evaluate` per cut,
#   `partition.solve(schedule="single")` for its choice) on the per-layer profile taken **on the
#   same device class** (TF.js in the throttled page) and the cloud's native-TF profile, both
#   *reconciled* with their whole-model times (`profiling.reconcile`: isolated layers plus a
#   measured per-layer dispatch and per-inference fixed cost add up to the whole model).
#   Cloud compute is scaled by the **measured server factor** (Neurosurgeon's load factor):
#   the server's own whole-model time as it serves (its `server_ms` for the whole model, idle
#   or under the background load) ÷ the profiled cloud time. The *uncalibrated* engine (factor
#   1 idle, loaded ÷ idle when loaded) is reported beside it.
#
# Quick runs a representative subset — the emotion CNN's end cuts, the engine's choices and evenly
# spread interior cut points × 3G/Wi-Fi × phone/desktop, idle server, and **AlexNet on the phone
# class over Wi-Fi** (seed 001's case) at three cuts: cloud-only, the engine's choice and
# device-only (the page runs AlexNet with its weights stored as uint8 — 62 MB instead of 250 MB,
# fp32 compute; split heads up to the conv layers are fp32). The engine's own
# choice is always among the executed cuts. Full runs every cut point × network × device class ×
# load for both models. Energy is not measured: the engine's device energy is a **model** (assumed
# powers) and is labelled so where it appears. The steps are `hybridlib.study.split.run`'s functions; each
# returns a result object shown below.

# %% parameters
preset = "quick"      # smoke | quick | full
data_path = None      # FER-2013 csv or folder; None → synthetic
reports_dir = None    # default: reports/<preset>/

# %%
import pandas as pd
from IPython.display import Markdown, display

from hybridlib import config, plots
from hybridlib.profiling import devices
from hybridlib.study.split import analysis as ss
from hybridlib.study.split import figures as split_figures
from hybridlib.study.split import run as study

ctx = config.context(preset, data_path=data_path, reports_dir=reports_dir)
plots.setup_style()
CASES = ctx.preset.split_cases
DTYPE = "float32"  # the wire dtype of the cut tensor (the input too, for cloud-only)
CODEC = "none"     # the wire's lossless compression (001 compresses; said where we compare with it)
display(pd.DataFrame([{"model": m, "cuts": n or "all", "networks": ", ".join(nets), "devices": ", ".join(devs),
                       "loads": ", ".join(loads)} for m, n, nets, devs, loads in CASES]))
pd.DataFrame([{**d.to_dict()} for d in devices.DEVICES.values()])

# %% [markdown]
# ## Profiles on each device class, and do they add up?
# The engine's graph for (model, device class): device costs from TF.js in a page throttled to
# that class, cloud costs from native TF on all cores. Isolated per-layer sums once came to 16% of
# the whole model; the table shows the isolated sum, the reconciled sum (layers +
# dispatch + fixed) and the whole-model time on each side.

# %%
prof = study.profile_cases(ctx, CASES, dtype=DTYPE)
graphs = prof.graphs
prof.reconciliation[["model", "device_class", "side", "backend", "layers", "sum_isolated_ms", "dispatch_ms",
                     "fixed_ms", "sum_layers_ms", "reconciled_ms", "model_ms", "isolated_share"]].round(3)

# %% [markdown]
# ## An engine that profiles nothing
# Neurosurgeon decides on *predicted* layer costs. For the phone, 04's kernel predictor
# (`additive+rf`: a floor + time-per-FLOP-and-byte law × a forest's correction, trained on
# random kernels only, never on this network's) predicts every kernel on the browser (TF.js at
# 4×) and the cloud; the cut solved on those predictions is executed with the others below and
# scored against the measured best. (Needs 04's kernel corpus with its browser side: quick/full.)

# %%
pred_choice = study.predicted_cost_choices(ctx, CASES, graphs)
display(Markdown("Cuts chosen on predicted costs: " + (", ".join(f"{m} × {net}: **{c}**" for (m, _d, net, _l), c
                                                              in pred_choice.items()) or "none (no browser kernels)")))

# %% [markdown]
# ## Which cuts run
# Every single-tensor cut point (an Inception block's branches are not cut points); quick keeps
# both end cuts, the engine's choice for every condition (at an idle server) and evenly spread
# interior cuts.

# %%
cuts = study.choose_cuts(ctx, CASES, graphs, must_run=pred_choice)
display(Markdown("\n".join(f"- **{m}**: {', '.join(c)}" for m, c in cuts.items())))

# %% [markdown]
# ## Execute
# One server + Chromium page per model and load (every device class × network on it); `repeats` timed runs of every cut after `warm-up`
# (medians below). Loaded conditions run a bounded background of cloud-mode users and measure the
# server's load factor (tail time loaded ÷ idle) — the engine is given that measured factor.

# %%
ex = study.execute_cases(ctx, CASES, cuts, graphs, dtype=DTYPE, codec=CODEC)
records, predicted = ex.records, ex.predicted
ctx.save_table("09_split_records", records)
ctx.save_table("09_split_predicted", predicted)
display(Markdown(f"**{len(records)} records** in {ex.total_s:.0f} s (profiles {prof.total_s:.0f} s); "
                 f"backends: {', '.join(records['backend'].unique())}; shapers: {', '.join(records['shaper'].unique())}"))
pd.DataFrame(ex.runs)

# %% [markdown]
# ## Neurosurgeon's per-cut bars, predicted beside measured
# Device compute | upload (+ encode) | cloud compute | download (+ decode); measured time outside
# these stages (fetch queueing, DevTools' emulated latency where Resource Timing does not show it,
# page work) is **other**. ★ = the engine's choice, ▼ = the measured best.

# %%
scores = study.score(ex, pred_choice, dtype=DTYPE, codec=CODEC)
comp, summary, raw_summary = scores.cases, scores.summary, scores.uncalibrated
fig = split_figures.split_stacked(predicted, scores.measured, max_cases=12)
ctx.save_figure(fig, "09_split_bars")

# %% [markdown]
# ## The engine's choice vs the measured best

# %%
ctx.save_table("09_split_cases", comp)
fig = split_figures.split_choice(comp)
ctx.save_figure(fig, "09_split_choice")
display(Markdown(f"**Hit rate** (chosen within {ss.HIT_MARGIN:.0%} of the measured best): "
                 f"**{summary['hits']}/{summary['cases']}** · median regret **{summary['median_regret']:.1%}** · "
                 f"worst **{summary['worst_regret']:.1%}** ({summary['worst_case']}).  \n"
                 f"Uncalibrated engine (profiled cloud time, factor 1 when idle): "
                 f"{raw_summary['hits']}/{raw_summary['cases']} hits, median regret {raw_summary['median_regret']:.1%}, "
                 f"worst {raw_summary['worst_regret']:.1%}."))
comp[["model", "device", "network", "load", "chosen", "best", "measured_chosen_ms", "measured_best_ms",
      "predicted_chosen_ms", "hit", "regret", "speedup_vs_cloud", "speedup_vs_device"]].round(3)

# %% [markdown]
# ### The plan made on predicted costs, executed
# Regret = measured latency of the cut chosen on *predicted* kernel costs ÷ the measured best − 1.

# %%
ctx.save_table("09_split_predicted_plan", scores.predicted_plans)
scores.predicted_plans.round(3)

# %% [markdown]
# ## Speed-ups, like for like with the seeds
# 003 (Neurosurgeon) reports 3.1× mean / 40.7× max over cloud-only on a mobile board over
# Wi-Fi/LTE/3G. 001 (CollabDNN) reports up to 73% lower latency for AlexNet inference than the
# better of mobile-only and cloud-only (its §VII; the latency-optimal split appears on Wi-Fi,
# on 3G/4G mobile-only wins), with per-layer latencies from regression models and a
# shortest-path schedule rather than an executed split, and transfers losslessly compressed.
# Ours: measured ÷ measured, only over executed cases with the same device class (phone),
# network(s) and — for 001 — model (AlexNet), with *both* end cuts executed; `differs` says what
# still differs, `matched` which cases and cuts the number comes from.

# %%
fig = split_figures.split_speedups(comp, summary["like_for_like"])
ctx.save_figure(fig, "09_split_speedups")
pd.DataFrame(summary["like_for_like"])

# %% [markdown]
# ## Where prediction and measurement disagree
# Median over the executed cuts of predicted − measured per piece (ms), and the single worst
# (case, cut) pairs with the piece that explains most of the gap.

# %%
display(scores.piece_errors.round(2))
scores.disagreements[["model", "device", "network", "cut", "total_ms_pred", "total_ms_meas", "total_error",
                      "worst_piece", "device_ms_pred", "device_ms_meas", "cloud_ms_pred", "cloud_ms_meas",
                      "other_ms"]].round(2)

# %%
ctx.save_result("09_split", study.result_record(prof, cuts, ex, scores, dtype=DTYPE, codec=CODEC,
                                               repeats=ctx.preset.split_repeats, warmup=ctx.preset.split_warmup))
display(Markdown(f"Saved `results/09_split.json`: hit rate {summary['hit_rate']:.0%}, "
                 f"intermediate cuts chosen in {len(summary['intermediate_chosen'])} case(s), "
                 f"measured best intermediate in {len(summary['intermediate_best'])}."))
