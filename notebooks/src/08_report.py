# %% [markdown]
# # 08 · Report: this run, like for like with the seeds
#
# Collects the measurements the earlier notebooks wrote to `results/*.json` and sets them next to
# what the seed documents report — but only where the conditions match. Every row names
#
# - its **scenario**: *as measured*, or a **what-if** (05's "fast server" = server ÷10, "phone +
#   fast server" = device ×10 and server ÷10). What-ifs are separate rows, never averaged with
#   measured ones;
# - its **data**: synthetic FER-format faces or FER-2013;
# - its **basis**: *measured*, or *modelled* and how. Device energy is a model (2 W × compute ms
#   plus radio power × transfer ms; there is no power meter), and partition latencies are measured
#   layer times plus transfer times computed from each network preset's bandwidth and RTT.
#
# Each neural network counts once: the emotion CNN's partition rows use its TF.js graph when 04
# profiled it in Chromium (the hybrid app's real device runtime), else its Keras graph; the row
# says which. A seed's number appears in *seed value* only when the conditions match; otherwise
# *like for like* says what differs, and the seed's figure stays in the quoted table of claims.
#
# Early exit (06): the **converter's operating point** (C, T, share exited at the edge, accuracy
# change vs the no-exit model on test and on the validation split it was chosen on), its bytes per input and
# savings against the 48×48 crop (raw/PNG/JPEG) and the cloud mode's video bytes per frame — beside seed 004's
# 95% / 40× only if alike, which it is not here (004's ResNet/MobileNet, image test set and phone GPU); the
# early exit **executed in the page** (exit share, bytes per input, decisions vs Keras) and **Edgent's plans
# executed** (deadlines met, predicted ÷ measured) per cost model. An input 06 did not record becomes a skipped
# part with its reason, never a made-up row. *Scale-out (recorded)* rows quote committed Ray measurements
# (`docs/measurements/*.json`): not this run, and each names its file and command.

# %% parameters
preset = "quick"      # smoke | quick | full
data_path = None      # FER-2013 csv or folder; None → synthetic
reports_dir = None    # default: reports/<preset>/

# %%
import pandas as pd
from IPython.display import Markdown, display

from hybridlib import config
from hybridlib.study import report

ctx = config.context(preset, data_path=data_path, reports_dir=reports_dir)
results = report.relativize(report.load_results(ctx.results_dir), ctx.root)
# inputs this report expects but the run did not record (e.g. an early_exit.json from before 06 had the
# converter): each is recorded as a skipped part, shown below and in summary.md, never a made-up row
for part, reason in report.missing_parts(results):
    ctx.skip(part, reason, required=False)
skipped = [{**s, "status": f"skipped: {s['reason']}"} for s in config.read_skipped(ctx.results_dir)]
display(Markdown(f"**Data:** {ctx.data_label}. Results found: {', '.join(sorted(results)) or 'none'}."
                 + (" Every number below is on SYNTHETIC faces, not FER-2013." if ctx.synthetic else "")))

# %% [markdown]
# ## Headline
# The few numbers a reviewer asks for first, each with what it stands on.

# %%
head = pd.DataFrame(report.headline(results, skipped))
display(head.style.hide(axis="index"))

# %% [markdown]
# ## Comparisons, like for like

# %%
table = report.seed_comparison(results, root=ctx.root)  # + recorded scale-out rows (docs/measurements), marked
ctx.save_table("08_seed_comparison", table)
display(table[["topic", "quantity", "this_run", "scenario", "data", "basis", "seed", "seed_value",
               "like_for_like"]].style.hide(axis="index"))

# %% [markdown]
# ## What the seeds report (quoted, under their conditions)
# Their numbers, their hardware and data; none of this run's figures is computed from them.

# %%
claims = report.seed_claims()
display(claims.style.hide(axis="index"))

# %% [markdown]
# ## Parts that did not run
# Recorded by the notebooks with `ctx.skip(part, reason)`; `hybridlib run` repeats them in
# `summary.md` and fails when a required one is among them.

# %%
if skipped:
    display(pd.DataFrame(skipped)[["part", "notebook", "required", "status"]])
else:
    display(Markdown("None: every part of the notebooks so far ran."))

# %%
graphs = report.graph_per_network((results.get("partition") or {}).get("choices") or [])
alike = int((table["like_for_like"] == "yes").sum())
with_seed = int((table["seed"] != "").sum())
ctx.save_result("report", {
    "headline": head.to_dict(orient="records"),
    "rows": table.to_dict(orient="records"),
    "claims": len(claims), "compared": with_seed, "like_for_like": alike,
    "graph_per_network": graphs,
    "skipped": [s["part"] for s in skipped],
})
display(Markdown(f"{len(table)} rows; {with_seed} speak to a seed's claim, {alike} of them like for like. "
                 f"Partition graph per network: "
                 + (", ".join(f"{n} → `{g}`" for n, g in graphs.items()) or "none") + ". "
                 "The full set of numbers (every notebook's scalars) is in `summary.md`, written by "
                 "`hybridlib run` after this notebook; figures are under `figures/`."))
