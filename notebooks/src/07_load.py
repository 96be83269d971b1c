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
# process (CPU via psutil, children included); synthetic users are real aiortc peers streaming a
# clip of a real face photo at a webcam's size and rate, spread over worker processes; hybrid users
# fetch the page, scripts, `/config` and the TF.js model over HTTP and then run locally (at small
# N also as real headless Chromium pages with a fake camera: **hybrid · Chromium pages**). Three
# main series: **cloud · seed pipeline** (000's server as its text describes it: Haar on the full frame,
# one `model.predict` per face, inline in the frame handler, nothing batched or dropped), **cloud ·
# ours** (newest frame only, one batching worker off the event loop, tracked detection), and
# **hybrid**.
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

from hybridlib import config, load, plots, serve, train

ctx = config.context(preset, data_path=data_path, reports_dir=reports_dir)
plots.setup_style()
model_path = train.ensure_model(ctx)          # the trained CNN (made at this preset's size if missing)
models_dir = serve.ensure_tfjs(model_path)    # its TF.js variants for the hybrid page
plan = load.StudyPlan.from_preset(ctx.preset)
display(Markdown(f"**Model:** `{model_path.name}` ({ctx.data_label}) · **users:** {plan.users} · "
                 f"**seed pipeline users:** {plan.seed_users} · **Chromium hybrid users:** {plan.browser_users} · "
                 f"**{plan.duration_s:g} s** per step · "
                 f"camera **{plan.size[0]}×{plan.size[1]} @ {plan.fps} fps** · "
                 f"**{os.cpu_count()} CPUs** on this machine"))

# %% [markdown]
# ## The runs
# One server process per series; one step per user count; each step's numbers come from the
# window in which all its users were streaming. Then an **overload** run: twice the capacity
# (the largest step at which every user still got ≥ 80% of the frame rate with p95 ≤ 250 ms)
# against a server capped at that capacity.

# %%
study = load.run_study(plan, model_path, models_dir)
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
# ## Cost per user-minute, and the overload run

# %%
pum = load.per_user_minute(df)
display(pum)
fig = load.plot_costs(pum, summary)
ctx.save_figure(fig, "07_costs_overload")

# %%
ctx.save_result("07_load", summary)
e = summary["answered_per_cpu_s"]
o = summary["overload"] or {}
ratio = summary["hybrid_vs_cloud_cpu_ratio"]
display(Markdown(
    f"- **Efficiency:** answered frames per server CPU-second — ours {e['ours'] or 0:.1f}, seed pipeline "
    f"{e['seed'] or 0:.1f} (**{(e['ratio'] or 0):.1f}×**).\n"
    f"- **Saturation (users):** ours {summary['saturation_users']['ours']}, seed pipeline "
    f"{summary['saturation_users']['seed']}, hybrid {summary['saturation_users']['hybrid']} "
    f"(largest step tried {max(plan.users)}) — on {os.cpu_count()} CPUs shared with the load clients.\n"
    f"- **Hybrid vs cloud server CPU per user-minute** after the download: "
    f"{'n/a' if ratio is None else f'{100 * ratio:.2f}%'}.\n"
    f"- **Overload** ({o.get('users')} users, capacity {o.get('max_sessions')}): {o.get('admitted')} admitted at "
    f"{o.get('fps_per_user')} fps, p95 {o.get('rtt_p95_ms')} ms (at capacity without overload: "
    f"{o.get('baseline_fps_per_user')} fps, p95 {o.get('baseline_rtt_p95_ms')} ms); {o.get('refused')} refused with 503.\n"
    f"- **Seed 000 (reported, its hardware):** 40% CPU at 1 user, 82% at 5, crashed at 6; hybrid flat to 10 users."))
