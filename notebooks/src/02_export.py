# %% [markdown]
# # 02 · The model in the browser: TF.js export, parity, speed, the hybrid app
#
# Seed 000's *hybrid* mode ships the trained CNN to the browser once (TF.js JSON + weight
# shards) and runs every frame there; the server does no per-frame work. That only counts if
# the browser model **gives the same answers** as the Python one, **loads offline**, and
# **works on a real camera stream in a real browser**. This notebook checks all three in
# headless Chromium (Debian's `chromium`, driven by Playwright):
#
# 1. export the trained `.h5` as TF.js *layers* models — fp32, float16 and uint8 weights;
# 2. parity with Keras on held-out faces, and head→tail sub-models equal to the full model at
#    every layer boundary (what the partition notebooks cut);
# 3. ms per frame per variant and per TF.js backend (wasm, webgl, cpu);
# 4. the app itself on a fake camera playing a real photo: time to first prediction and a
#    screenshot.

# %% parameters
preset = "quick"      # smoke | quick | full
data_path = None      # FER-2013 csv or folder; None → synthetic
reports_dir = None    # default: reports/<preset>/

# %%
import pandas as pd
from IPython.display import Image, Markdown, display

from hybridlib import browser, config, export, models, plots
from hybridlib.models import artifacts
from hybridlib.serving import app as serve
from hybridlib.serving import media

ctx = config.context(preset, data_path=data_path, reports_dir=reports_dir)
plots.setup_style()
model_path = artifacts.ensure_model(ctx)  # trains at this preset's size if 01_train has not run
tfjs_dir = export.default_tfjs_dir(model_path)
display(Markdown(f"**Model** `{model_path.name}` ({ctx.data_label}) · **Chromium** {browser.chromium_version()}"))

# %% [markdown]
# ## 1 · Export: three variants
# `tensorflowjs` 4.22 converts the tf_keras `.h5` to a layers model (layer boundaries kept);
# float16 and uint8 store each weight in 2 and 1 bytes (uint8: affine per tensor, de-quantised
# by TF.js at load). Each directory has a `manifest.json` with the SHA-256 of every file.

# %%
exports = export.export_variants(model_path, tfjs_dir)
sizes = export.size_table(exports)
ctx.save_table("02_sizes", pd.DataFrame(sizes))
display(pd.DataFrame(sizes))
ctx.save_figure(export.plot_sizes(sizes, title=f"TF.js model size per variant ({ctx.data_label})"), "02_sizes")

# %% [markdown]
# ## 2 · Parity with Keras, in Chromium (wasm backend)
# Criteria: fp32 max |Δprob| ≤ 1e-4; float16 and uint8 top-1 agreement ≥ 99% and accuracy
# within 0.5 point of Keras.

# %%
ds = ctx.dataset()
x_test, y_test = ds.split("test")
n = min(ctx.preset.parity_samples, len(x_test))
x_par, y_par = models.preprocess(x_test[:n]), y_test[:n]
par = export.parity(model_path, x_par, y_par, tfjs_dir)
par_table = pd.DataFrame(par["variants"]).T.reset_index(names="variant")
ctx.save_table("02_parity", par_table)
display(Markdown(f"{par['n']} held-out faces · TF.js {par['tfjs_version']} · backend **{par['tfjs_backend']}** · "
                 f"Keras accuracy {100 * par['keras_accuracy']:.2f}%"))
display(par_table)

# %% [markdown]
# ### Head → tail at the splits
# A cut after a layer sends every tensor still needed later: one in a chain, several inside an
# Inception module. Each head and tail is exported to TF.js and run in the browser; the result
# must equal the full model (≤ 1e-5). `full` checks every split; `quick` an evenly spread third of
# them (`Preset.parity_splits`, Inception cuts included) — each split costs a full-size export and
# load. Whether a cut routes the right tensors depends on the graph, not the weights, and the
# test suite checks every split of this architecture (`test_head_tail_equals_full_at_every_split`).

# %%
full_model = export.load_model(model_path)
split_layers = export.pick_splits(full_model, ctx.preset.parity_splits)
splits = export.split_parity(full_model, x_par[:16], split_layers, progress=True)
split_df = pd.DataFrame(splits)
ctx.save_table("02_split_parity", split_df)
ctx.save_figure(export.plot_split_parity(splits, title=f"Head→tail vs full, {len(splits)} splits "
                                                       f"(TF.js wasm, {ctx.data_label})"), "02_split_parity")
display(Markdown(f"{len(splits)} of {len(export.split_points(full_model))} splits checked "
                 f"({(split_df.n_tensors > 1).sum()} multi-tensor); worst TF.js head→tail vs full: "
                 f"{split_df.max_abs_diff_vs_tfjs_full.max():.2e}"))

# %% [markdown]
# ## 3 · ms per frame, per variant and TF.js backend
# Headless Chromium's default backend is webgl on SwiftShader (software GL); wasm is far faster
# here, which is why the app picks it explicitly. One face per frame → batch 1. With the preset's
# `browser_budget_s` (quick: 2.5 s) a variant × backend stops after at least 10 timed runs once
# they took that long, so the slow software backends get ~10–20 runs and wasm all of them; the
# `runs` column says how many each row has.

# %%
timings = export.browser_timings(tfjs_dir, runs=ctx.preset.browser_runs, budget_s=ctx.preset.browser_budget_s or None)
tim_df = pd.DataFrame(timings)
ctx.save_table("02_browser_ms", tim_df)
display(tim_df.pivot_table(index="variant", columns="backend", values="ms_median").round(2))
ctx.save_figure(export.plot_browser_ms(timings, title=f"TF.js ms/frame in headless Chromium ({ctx.data_label})"),
                "02_browser_ms")

# %% [markdown]
# ## 4 · The hybrid app on a fake camera
# `hybridlib serve --mode hybrid` serves the page, TF.js, face-api's tiny face detector (its
# weights come inside the npm package) and the three variants — nothing from a CDN. Chromium's
# fake camera plays a clip made from `skimage.data.astronaut()`. Per variant, in a fresh
# browser context (empty cache): model download + warm-up, time from page load to the first
# classified face, and per-stage ms of the running loop.

# %%
clip = media.make_y4m("astronaut", ctx.artifacts_dir / "clip_astronaut.y4m", n_frames=30, fps=15, jitter=4)
shot = ctx.figures_dir / "02_app_screenshot.png"
app = serve.make_app("hybrid", model_path=model_path, models_dir=tfjs_dir)
with serve.run_in_thread(app) as url:
    app_rows = serve.measure_app(url, clip, [r["variant"] for r in sizes], frames=15, screenshot=shot)
app_df = pd.DataFrame(app_rows)
ctx.save_table("02_app", app_df.drop(columns=["video"], errors="ignore"))
display(app_df[["variant", "backend", "ttfp_ms", "first_prediction_ms", "detect_ms", "crop_ms", "cnn_ms",
                "total_ms", "fps", "faces_per_frame", "label"]].round(1))
display(Image(filename=str(shot)))

# %%
result = {
    "model": str(model_path), "tfjs_dir": str(tfjs_dir), "chromium": browser.chromium_version(),
    "sizes": {r["variant"]: r for r in sizes},
    "parity": par,
    "split_parity": {"n_checked": len(splits), "n_split_points": len(export.split_points(full_model)),
                     "n_multi_tensor": int((split_df.n_tensors > 1).sum()),
                     "max_abs_diff_vs_tfjs_full": float(split_df.max_abs_diff_vs_tfjs_full.max()),
                     "max_abs_diff_vs_keras": float(split_df.max_abs_diff_vs_keras.max()),
                     "keras_split_max_abs_diff": float(split_df.keras_split_max_abs_diff.max())},
    "browser_ms": timings,
    "app": app_rows,
    "screenshot": str(shot),
}
ctx.save_result("export", result)
fp = par["variants"]
display(Markdown(
    f"**Sizes** fp32 {sizes[0]['total_bytes'] / 1e6:.2f} MB · float16 ×{sizes[1]['ratio_to_fp32']:.2f} · "
    f"uint8 ×{sizes[2]['ratio_to_fp32']:.2f}  \n"
    f"**Parity** fp32 max |Δ| {fp['fp32']['max_abs_diff']:.1e}; top-1 agreement float16 "
    f"{100 * fp['float16']['top1_agreement']:.1f}%, uint8 {100 * fp['uint8']['top1_agreement']:.1f}%  \n"
    f"**Screenshot** `{shot}`"))
