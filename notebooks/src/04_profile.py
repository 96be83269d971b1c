# %% [markdown]
# # 04 · Per-layer profile: latency, output size and energy on device and cloud
#
# Neurosurgeon's starting point: profile every layer once on the **device** and in the
# **cloud**, record its output size, and decide where to cut from those cached costs.
# Here the *device* is TensorFlow on **one thread** (and, where Chromium is available, TF.js
# on the **wasm** backend in headless Chromium — the hybrid app's real device runtime); the
# *cloud* is TensorFlow on all cores of this machine. Each layer is timed alone on the
# activations it sees in the model (median of repeats after warm-up, minus the fixed
# `tf.function` call cost). Device energy comes from a **power model** (no power meter exists
# here): device ms × an assumed 2 W.
#
# Then Neurosurgeon's per-layer-type regressions, and nn-Meter's per-*kernel*
# random forests on fused kernels, checked on each network's kernels without ever training on them.
# Neurosurgeon's per-layer-type regressions: a corpus of randomly configured layers is
# timed on both sides, and a linear model on Neurosurgeon's features is compared with gradient
# boosting on log latency (held-out MAPE per type and side), then both are checked on the real
# layers of the emotion CNN.

# %% parameters
preset = "quick"      # smoke | quick | full
data_path = None      # FER-2013 csv or folder; None → synthetic
reports_dir = None    # default: reports/<preset>/

# %%
import pandas as pd
from IPython.display import Markdown, display

from hybridlib import config, plots
from hybridlib.profiling import figures as profiling_figures
from hybridlib.profiling import layers, predict
from hybridlib.profiling.tables import ensure_profile

ctx = config.context(preset, data_path=data_path, reports_dir=reports_dir)
plots.setup_style()
power = layers.PowerModel()
display(Markdown(f"**Preset** `{ctx.preset.name}` · models {', '.join(ctx.preset.profile_models)} · "
                 f"{ctx.preset.profile_repeats} repeats · energy: *model* ({power.active_w} W; {power.source})"))

# %% [markdown]
# ## Profile the models (cached in `data/processed/<preset>/profile_<model>.parquet`)

# %%
tables = {}
for i, m in enumerate(ctx.preset.profile_models):
    browser = ctx.preset.profile_browser and m == "emotion_cnn"
    tables[m] = ensure_profile(ctx, m, browser=browser)
prof = pd.concat(tables.values(), ignore_index=True)
ctx.save_table("04_profile_layers", prof.drop(columns=["ms_all"]))
summary = (prof.groupby(["model", "side", "backend"])
           .agg(layers=("layer", "size"), sum_ms=("ms", "sum"), model_ms=("model_ms", "first"),
                energy_mj=("energy_mj", "sum"))
           .reset_index())
display(summary)

# %% [markdown]
# ## Per-layer latency and output size (Neurosurgeon's Figure 3 for our models)
# Early convolutions produce the largest tensors; the dense layers hold most parameters. Where
# the bars of output size drop below the input's, a cut may pay off — if the network is slow
# enough and the cloud fast enough.

# %%
for m in ctx.preset.profile_models:
    fig = profiling_figures.plot_layers(prof, m, title=f"{m}: per-layer latency and output size ({ctx.data_label})")
    ctx.save_figure(fig, f"04_layers_{m}")

# %% [markdown]
# ## Per-layer-type predictors: Neurosurgeon's linear regressions vs better models
# A corpus of `Preset.predictor_corpus` random layer configurations (conv, pool, dense,
# activation, normalisation), each timed on both sides. Held-out MAPE per type and side for
# Neurosurgeon's `linear`, gradient boosting on log latency (`gbr`), a robust power law in
# FLOPs and bytes (`huber`) and the default `auto` (per type, gbr or huber by cross-validation).
# On this shared 2-core machine other jobs add latency spikes; the `ms_min` target (fastest
# repeat) shows what is left once they are taken out.

# %%
corpus = predict.ensure_corpus(ctx)
# all four methods on the median (the profile's statistic); Neurosurgeon vs the default on the
# fastest repeat (the layer's own cost once other processes' interference is taken out)
ev = pd.concat([predict.evaluate(corpus, test_size=0.25, seed=0, target="ms"),
                predict.evaluate(corpus, test_size=0.25, seed=0, target="ms_min", methods=("auto", "linear"))],
               ignore_index=True)
display(ev.pivot_table(index=["side", "type"], columns=["target", "method"], values="mape").round(1))
ev_all = ev
ev = ev[ev.target == "ms"]
ctx.save_table("04_predictor_mape", ev_all)
best = {side: ev[ev.side == side].groupby("method")["mape"].mean().idxmin() for side in ev.side.unique()}
display(Markdown("Mean held-out MAPE by method: " + "; ".join(
    f"{side}: " + ", ".join(f"{k} {v:.1f}%" for k, v in ev[ev.side == side].groupby('method')['mape'].mean().items())
    for side in ev.side.unique())))

# %% [markdown]
# ## Predicted vs measured on the emotion CNN's own layers
# Both predictors are fitted on the whole corpus and asked about the real layers (a config
# never seen in training). Per-call latency (`ms_raw`) is compared, as in the corpus.

# %%
from hybridlib import models  # noqa: E402

emotion = prof[(prof.model == "emotion_cnn") & (prof.backend == "tf-cpu")]
pm, model_mape = predict.layer_predictions(corpus, emotion, predict.configs_from_keras(models.emotion_cnn()))
display(model_mape)
fig = profiling_figures.predicted_vs_measured(pm, model_mape,
                                  f"Emotion CNN layers: predicted vs measured latency ({ctx.data_label})")
ctx.save_figure(fig, "04_predicted_vs_measured")

# %% [markdown]
# ## Fused kernels (nn-Meter): random forest vs Neurosurgeon's linear model
# A runtime executes *kernels*, not layers: Grappler fuses Conv2D + BatchNorm + ReLU into one
# pass (`hybridlib.profiling.kernels.detect_kernels`, nn-Meter's rule set), so the additive
# unit to predict is the fused kernel. A corpus of random kernels drawn around the emotion
# CNN's and AlexNet's sizes, plus both networks' own kernels, is timed on each side: TF on 1
# thread (device), TF on all cores (cloud) and, at quick/full, TF.js wasm in 4×-throttled
# Chromium (browser: a phone, `partition.kernels_tfjs`). Target `ms_adj`: on device and cloud
# the fastest per-call time (the 1-thread device in CPU time), corrected for the machine's
# drift by a reference kernel timed alongside; in the browser the median sample (the fastest
# may have slipped past the throttle). Cached in
# `data/processed/<preset>/kernel_corpus.parquet`. Per kernel type:
# nn-Meter's random forest (`rf`) vs Neurosurgeon's `linear`, on held-out configurations and
# on each network's own kernels (never trained on) — trained on both families' random
# kernels, or only on the *other* network's family (out of range: trees cannot extrapolate).
# `additive+rf` is a floor + time-per-FLOP-and-byte law (which can extrapolate) × a forest's
# correction.

# %%
from hybridlib.profiling import kernels, kpredict, ksession  # noqa: E402

KMETHODS = ("rf", "linear", "additive+rf")
kcorpus = kernels.ensure_kernel_corpus(ctx)  # sides: ctx.preset.kernel_sides
kpreds = kpredict.network_predictions(kcorpus, KMETHODS)
# held-out configurations; with a second timing session the same fits also predict its kernels
kx, kev_configs = ksession.evaluate(kcorpus, KMETHODS)
kev = pd.concat([kev_configs, kpredict.evaluate_networks(kpreds)], ignore_index=True)
ctx.save_table("04_kernel_predictor_metrics", kev)
ksum = kpredict.summary(kev)
display(ksum.round(1))
fig = profiling_figures.kernel_predicted_vs_measured(
    kpreds[kpreds.train == "families"],
    f"Network kernels (never trained on): predicted vs measured per kernel type and side ({ctx.data_label})")
ctx.save_figure(fig, "04_kernels_predicted_vs_measured")

# %% [markdown]
# ## Across timing sessions: trained on one, tested on another
# Held-out kernels of the *same* timing session share its process, its minutes and its
# reference-kernel scale. Where the preset asks for it (`Preset.kernel_second_session`: full 0.5;
# quick 0, as its start-ups cost ~22 s of make run's budget; 0.25 gives this table at quick) the last
# share of each family's random kernels is timed in a **second session** — fresh processes and a new
# Chromium, after the first — and never trained on. The models above (trained on 75% of session 1)
# predict session 1's held-out quarter (**within**) and all of session 2 (**cross**). MAPE and RMSPE with 95%
# bootstrap intervals, shares within ±5% / ±10% with Wilson intervals, the cross − within gap;
# per kernel type the test sets are small (`cross_n`), so `resolvable_within10_gap` says how far
# apart two ±10% shares must be to be told apart. `benchmarks/bench_predict.py --cross-session`
# runs it with ≥ 30 kernels per type.

# %%
if kx is not None:
    kxs, kxt = ksession.scores(kx), ksession.scores(kx, by=("side", "kernel_type", "method"))
    ctx.save_table("04_kernel_cross_session", kxt)
    cols = [f"{s}_{m}" for m in ("n", "mape", "mape_lo", "mape_hi", "rmspe", "within5", "within10") for s in ("within", "cross")]
    display(kxs.set_index(["side", "method"])[cols + ["gap", "gap_lo", "gap_hi"]].round(1))
    display(kxt.set_index(["side", "kernel_type", "method"])[["within_mape", "cross_mape", "cross_n", "cross_within10",
                                                              "resolvable_within10_gap"]].round(1))
else:
    display(Markdown(f"One timing session at `{ctx.preset.name}` (`kernel_second_session` = 0): no cross-session score."))

# %%
res = {
    "models": {m: {
        "layers": int((t.side == "cloud").sum()),
        "sides": {f"{r.side}/{r.backend}": {"sum_ms": float(r.sum_ms), "model_ms": float(r.model_ms),
                                            "energy_mj": float(r.energy_mj)}
                  for r in summary[summary.model == m].itertuples()},
        "input_bytes": int(t[t.side == "cloud"].sort_values("index").out_bytes.iloc[0]),
        "max_out_bytes": int(t.out_bytes.max()),
    } for m, t in tables.items()},
    "backends": sorted(prof.backend.unique().tolist()),
    "power_model": {"active_w": power.active_w, "source": power.source, "measured": False},
    "predictor": {
        "corpus_configs": int(corpus.config_id.nunique()),
        "heldout_mape": {f"{r.side}/{r.method}/{r.type}": float(r.mape) for r in ev.itertuples()},
        "heldout_mean_mape": {f"{s}/{m}": float(v) for (s, m), v in ev.groupby(["side", "method"])["mape"].mean().items()},
        "heldout_mean_mape_min_target": {f"{s}/{m}": float(v) for (s, m), v in
                                         ev_all[ev_all.target == "ms_min"].groupby(["side", "method"])["mape"].mean().items()},
        "best_method": best,
        "emotion_cnn_mape": {f"{r.side}/{r.method}": float(r.mape) for r in model_mape.itertuples()},
    },
    "kernel_predictor": {
        "corpus_kernels": {k: int(v) for k, v in kcorpus.groupby("source")["config_id"].nunique().items()},
        "target": kpredict.TARGET, "sides": sorted(kcorpus.side.unique().tolist()),
        "mape": {f"{sp}/{sd}/{t}/{m}": float(v) for (sp, sd, t, m), v in
                 kev.groupby(["split", "side", "kernel_type", "method"])["mape"].mean().items()},
        "mean_mape": {f"{sp}/{sd}/{m}": float(v) for (sp, sd, m), v in
                      kev.groupby(["split", "side", "method"])["mape"].mean().items()},
        "cross_session": None if kx is None else {"per_side": ksession.to_result(kxs), "per_type": ksession.to_result(
            kxt, ("side", "kernel_type", "method")), "methods": list(KMETHODS), "target": kpredict.TARGET},
    },
}
ctx.save_result("profile", res)
display(Markdown(f"Best predictor per side: {best}"))
