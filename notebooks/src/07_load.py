# %% [markdown]
# # 07 · Load: server CPU, bandwidth and latency vs users — cloud mode vs hybrid mode
#
# Seed 000's headline result: its **cloud** server (aiortc + Haar cascade + TensorFlow + OpenCV
# drawing, on 4 cores / 8 threads) went from **40% CPU at 1 user to 82% at 5 users and crashed at
# 6**, with bandwidth linear in users, while the **hybrid** mode (model downloaded once, inference
# in the browser) stayed flat up to 10 users. *Those numbers are the seed's, quoted from its text;
# nothing in this notebook reproduces its hardware.*
#
# Here the same curves are measured on real parts, on loopback: `hybridlib serve` runs as its own
# process (CPU via psutil, children included); cloud users are real aiortc peers streaming a
# clip of a real face photo at a webcam's size and rate, spread over worker processes; **hybrid**
# users are real headless Chromium pages (fake camera playing the same clip) that download the page
# and the TF.js model and then run the app — face detection and the CNN in the page — for the whole
# step, so the cost that moved to the client is measured too (the page's CPU time from the DevTools
# protocol, `Performance.getMetrics`). Three series: **cloud · seed pipeline** (000's server as its
# text describes it: Haar on the full frame, one `model.predict` per face, inline in the frame
# handler, every frame in order — frames that arrive while it is busy queue, and are counted),
# **cloud · ours** (newest frame only, one batching worker off the event loop, tracked detection),
# and **hybrid**. Both cloud pipelines run at the **same user counts**, each after an unmeasured
# warm-up user (so one-off costs such as Keras tracing land outside the measured steps).
#
# Caveat: the load clients run on the same machine as the server (encoding and decoding video
# costs them CPU too), so the absolute saturation point is this machine's, not a data centre's.

# %% parameters
preset = "quick"      # smoke | quick | full
data_path = None      # FER-2013 csv or folder; None → synthetic
reports_dir = None    # default: reports/<preset>/

# %%
import os

from IPython.display import Markdown, display

from hybridlib import config, export, plots
from hybridlib.models import artifacts
from hybridlib.study import load

ctx = config.context(preset, data_path=data_path, reports_dir=reports_dir)
plots.setup_style()
model_path = artifacts.ensure_model(ctx)          # the trained CNN (made at this preset's size if missing)
models_dir = export.ensure_tfjs(model_path)    # its TF.js variants for the hybrid page
plan = load.StudyPlan.from_preset(ctx.preset)
display(Markdown(f"**Model:** `{model_path.name}` ({ctx.data_label}) · **users (both cloud pipelines):** "
                 f"{plan.users} · **hybrid Chromium pages:** {plan.hybrid_users} · "
                 f"**{plan.duration_s:g} s** per step after a {plan.warmup_s:g} s warm-up · "
                 f"camera **{plan.size[0]}×{plan.size[1]} @ {plan.fps} fps** · "
                 f"**{os.cpu_count()} CPUs** on this machine"))

# %% [markdown]
# ## The runs
# One server process per series; one step per user count; each step's numbers come from the
# window in which all its users were streaming. Then an **overload** run: four times the capacity
# (the largest step at which every user still got ≥ 80% of the frame rate with p95 ≤ 250 ms)
# against a server capped at that capacity, right after the capacity step on the same server.
# A part that cannot run here (e.g. no Chromium for the hybrid pages) is recorded as
# *skipped* with its reason and shows as such in `summary.md`.
# When a seed-pipeline step's users have all hung up, the server is told so (`SIGUSR1`) and its
# sessions end at their next frame, the frames still queued counted as dropped: it would otherwise
# work them off for tens of seconds, answering nobody, before the next step could start. Nothing
# changes while the step's users stream (`drain_s` in the steps table: the wait that remains).

# %%
study = load.run_study(plan, model_path, models_dir)
for part, reason in study["skipped"].items():
    ctx.skip(f"07 {part} load run", reason, required=False)
summary = load.summarize_study(study, plan)
df = load.steps_frame(study)
ctx.save_table("07_load_steps", df)
cols = ["series", "users", "admitted", "refused", "cpu_pct_machine", "bytes_in_per_s", "bytes_out_per_s",
        "fps_per_user", "rtt_p50_ms", "rtt_p95_ms", "frames_sent", "answered", "dropped", "answered_per_cpu_s"]
display(df[cols])

# %% [markdown]
# ## Seed figures 11 and 12, both modes on the same axes
# CPU is shown as a share of *all* logical CPUs, as the seed's Task-Manager-style percentages;
# the seed's two reported points (black triangles) were on 8 logical CPUs, ours on this machine's.

# %%
fig = load.plot_cpu_bandwidth(df, title_suffix=f" ({plan.size[0]}×{plan.size[1]} @ {plan.fps} fps)")
ctx.save_figure(fig, "07_cpu_bandwidth")

# %% [markdown]
# ## Latency and frame rate vs users
# The seed pipeline processes every frame in order on the event loop: once a frame takes longer
# than the frame interval, its queue — and its round trip — grows without bound (that is the
# seed's "crash"). Ours keeps only the newest frame, so round trip stays bounded and the
# frame rate degrades gracefully instead.

# %%
fig = load.plot_latency(df)
ctx.save_figure(fig, "07_latency")

# %% [markdown]
# ## Efficiency: ours ÷ the seed pipeline, per user count
# Answered frames per server CPU-second at each user count both pipelines ran (both warmed
# up); the headline is the **minimum** over counts, never a median over unequal sets of runs.
# `ratio` counts what the users received within the step; `processed_ratio` counts the server's
# own output (`/metrics` frames out) per CPU-second from the step's start until its sessions
# closed — a lagging server's late answers do not shrink it (shown beside, not pooled).
# The seed pipeline's frame ledger: frames that waited behind others (*queued*), those never
# answered because the user left with them still queued, or lost before reaching the handler
# (*dropped*).

# %%
import pandas as pd

ratio = summary["cloud_ratio"]
display(pd.DataFrame(ratio["rows"]).merge(pd.DataFrame(summary["seed_pipeline_frames"]), on="users", how="left"))
display(Markdown(f"**Headline:** ours ÷ seed = **{ratio['min_ratio'] or float('nan'):.1f}×** "
                 f"(minimum over {len(ratio['rows'])} user count(s), at {ratio['min_at_users']} user(s)); "
                 f"server-side processed frames per CPU-second: minimum "
                 f"{ratio['min_processed_ratio'] or float('nan'):.1f}×."))

# %% [markdown]
# ## Hybrid: what the server pays, what the client pays
# Server CPU-ms per frame (cloud: per answered frame; hybrid: per frame the pages processed)
# beside the client's: the page's main-thread time (`TaskDuration`, of which `ScriptDuration` is
# JS + wasm) and the whole Chromium process tree's CPU (psutil; shared equally among the pages:
# it includes the fake camera and the compositor). The hybrid claim (server CPU per user-minute
# ≤ 1% of cloud mode's, with the pages processing frames) is checked, not assumed.

# %%
if summary["hybrid"]:
    display(pd.DataFrame(summary["hybrid"]))
    display(Markdown(f"Cloud · ours server CPU-ms per answered frame by users: "
                     f"{summary['cloud_server_ms_per_frame']}. Hybrid claim: "
                     f"{summary['hybrid_claim']}"))
else:
    display(Markdown(f"**Hybrid pages skipped:** {summary['skipped'].get('hybrid')}"))

# %% [markdown]
# ## Cost per user-minute, and the overload run

# %%
pum = load.per_user_minute(df)
display(pum)
fig = load.plot_costs(pum, summary)
ctx.save_figure(fig, "07_costs_overload")

# %%
ctx.save_result("07_load", summary)
e = summary["cloud_ratio"]
o = summary["overload"] or {}
ratio = summary["hybrid_vs_cloud_cpu_ratio"]
h = summary["hybrid"][-1] if summary["hybrid"] else {}
display(Markdown(
    "- **Efficiency:** answered frames per server CPU-second, ours ÷ seed pipeline per user count: "
    + ", ".join(f"{r['users']} → {r['ratio']}×" for r in e["rows"])
    + f"; minimum **{e['min_ratio']}×**.\n"
    f"- **Saturation (users):** ours {summary['saturation_users']['ours']}, seed pipeline "
    f"{summary['saturation_users']['seed']}, hybrid {summary['saturation_users']['hybrid']} "
    f"(largest step tried {max(plan.users)}) — on {os.cpu_count()} CPUs shared with the load clients.\n"
    f"- **Hybrid vs cloud server CPU per user-minute** (Chromium pages running the app): "
    f"{'n/a (skipped)' if ratio is None else f'{100 * ratio:.3f}%'}; client "
    f"{h.get('client_ms_per_frame')} ms/frame page main thread (whole Chromium {h.get('client_proc_ms_per_frame')}) "
    f"vs server {h.get('server_ms_per_frame')} ms/frame.\n"
    f"- **Overload** ({o.get('users')} users = {o.get('factor')}× capacity {o.get('max_sessions')}): "
    f"{o.get('admitted')} admitted at {o.get('fps_per_user')} fps, p95 {o.get('rtt_p95_ms')} ms (at capacity "
    f"just before: {o.get('baseline_fps_per_user')} fps, p95 {o.get('baseline_rtt_p95_ms')} ms); "
    f"{o.get('refused')} refused with 503; server up after: {o.get('server_up')} → "
    f"{'holds' if o.get('holds') else 'does NOT hold'}.\n"
    f"- **Seed 000 (reported, its hardware):** 40% CPU at 1 user, 82% at 5, crashed at 6; hybrid flat to 10 users."))
