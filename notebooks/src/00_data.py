# %% [markdown]
# # 00 · Data: FER-2013 or its synthetic stand-in
#
# Every experiment in this study starts from 48×48 grayscale faces labelled with one of seven
# emotions (FER-2013's format: `emotion,pixels,Usage`). FER-2013 cannot be downloaded here, so
# unless you put it in `data/raw/` (see the README) the study runs on a **synthetic FER-format
# dataset**: drawn faces whose emotion is carried by the geometry of mouth, brows and eyes, under
# random pose, lighting, blur, noise and occlusion. Every figure made from it says *synthetic*.

# %% parameters
preset = "quick"      # smoke | quick | full
data_path = None      # FER-2013 csv or folder; None → synthetic
reports_dir = None    # default: reports/<preset>/

# %%
import numpy as np
from IPython.display import Markdown, display

from hybridlib import config, data, plots
from hybridlib.data import figures as data_figures

ctx = config.context(preset, data_path=data_path, reports_dir=reports_dir)
plots.setup_style()
ds = ctx.dataset()
display(Markdown(f"**Data:** {ctx.data_label} — `{ds.source}`, {len(ds):,} faces"
                 + (" — **SYNTHETIC, not FER-2013**" if ds.synthetic else "")))

# %% [markdown]
# ## Class distribution per split
# FER-2013 is imbalanced (Disgust is rare: 1.5% of the training rows); the synthetic set copies
# that imbalance at the chosen scale, so the class-weight question of the training notebook is real.

# %%
counts = ds.counts()
display(counts.assign(total=counts.sum(axis=1)))
fig = data_figures.class_distribution(counts, title=f"Class distribution per split ({ctx.data_label})")
ctx.save_figure(fig, "00_class_distribution")

# %% [markdown]
# ## Samples per class

# %%
fig = data_figures.image_grid(data.samples_per_class(ds, per_class=10), list(ds.class_names),
                       title=f"Samples per class ({ctx.data_label})")
ctx.save_figure(fig, "00_samples")

# %% [markdown]
# ## Augmentation
# As in the seed: horizontal mirror, rotation (±15°), shift/zoom and lighting changes. Each row is
# one training face (left) and six augmented draws of it; labels are unchanged.

# %%
rng = np.random.default_rng(0)
x_train, y_train = ds.split("train")
picks = rng.choice(len(x_train), size=4, replace=False)
rows = [[x_train[i]] + list(data.augment(np.repeat(x_train[i:i + 1], 6, axis=0), rng)) for i in picks]
fig = data_figures.image_grid(rows, [ds.class_names[y_train[i]] for i in picks],
                       title=f"Augmentation: original, then 6 draws ({ctx.data_label})")
ctx.save_figure(fig, "00_augmentation")

# %% [markdown]
# ## Fingerprint
# The SHA-256 of the pixels, labels and splits identifies the data every later model was trained on
# (the training manifest records it).

# %%
summary = data.describe(ds)
ctx.save_result("data", summary)
display(Markdown(f"fingerprint `{summary['fingerprint']}`; csv SHA-256 `{summary['file_sha256']}`"))
