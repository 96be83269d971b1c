# %% [markdown]
# # 08 · Report: this run beside the seeds
#
# Collects the measurements the earlier notebooks wrote to `results/*.json` and sets them next to
# what the seed documents report. The seeds' numbers are quoted (FER-2013, their hardware); ours
# come only from this run's files. When the run used the synthetic dataset, accuracies are **not**
# comparable with FER-2013's and the table says so.

# %% parameters
preset = "quick"      # smoke | quick | full
data_path = None      # FER-2013 csv or folder; None → synthetic
reports_dir = None    # default: reports/<preset>/

# %%
from IPython.display import Markdown, display

from hybridlib import config, report

ctx = config.context(preset, data_path=data_path, reports_dir=reports_dir)
results = report.load_results(ctx.results_dir)
display(Markdown(f"**Data:** {ctx.data_label}. Results found: {', '.join(sorted(results)) or 'none'}."
                 + (" Accuracy rows below are on SYNTHETIC faces, not FER-2013." if ctx.synthetic else "")))

# %% [markdown]
# ## The seeds' claims and this run

# %%
table = report.seed_comparison(results)
ctx.save_table("08_seed_comparison", table)
table

# %% [markdown]
# The full set of numbers (every notebook's scalars) is in `summary.md`, written by `hybridlib run`
# after this notebook; figures are under `figures/`.

# %%
measured = int((table["this run"] != "not measured in this run").sum())
ctx.save_result("report", {"claims": len(table), "measured": measured,
                           "rows": table.to_dict(orient="records")})
display(Markdown(f"{measured} of {len(table)} seed claims have a measured counterpart in this run."))
