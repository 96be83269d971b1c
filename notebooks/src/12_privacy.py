# %% [markdown]
# # 12 · Privacy of what is shipped: what can be rebuilt from a cut tensor
#
# Seeds 000, 002 and 004 say that in the hybrid and split designs *features, not faces, leave the
# phone*. Here that is measured, not assumed. The attacker is the server (or anyone on the link):
# it sees every tensor the phone ships and owns faces of its own from the same distribution.
#
# * **What is shipped**: the emotion CNN's cut tensor at an **early** (`pool1`, 24×24×32), a
#   **middle** (`pool3`, 6×6×192) and a **late** cut (`dense2`, 512 values), the early-exit
#   **converter's code** (`conv_encC` of 06's bundle), each as float32 and as the wire's uint8
#   (per-frame scale and zero point, `hybridlib.wire`). Bracketed by the **identity cut** (the raw
#   crop: cloud-only) and a **constant tensor** (nothing about the face: the floor).
# * **Inversion**: ridge regression from tensor to pixels (closed form; on the identity cut exact once
#   the attacker has more faces than the 2,304 pixels, a projection onto its faces' span below that),
#   trained on the attacker's faces (the Training split), scored on held-out faces (PrivateTest);
#   presets with `privacy_epochs > 0` add a small conv decoder on the late cut (quick and smoke: ridge only).
# * **Scores**: SSIM and PSNR of the rebuilt faces (bootstrap 95% intervals); the emotion the
#   emotion CNN — trained on raw crops, never on reconstructions — reads from them, beside the raw
#   crop (Wilson 95%); and **self-match**: how often a rebuilt face's nearest test face is its own
#   source (chance 1/N). The synthetic faces have no persons, so a face-identity attack cannot be
#   run; self-match is the linkability it stands for.
#
# All faces here are **synthetic** (drawn, labelled so), and so are the numbers.

# %% parameters
preset = "quick"      # smoke | quick | full
data_path = None      # FER-2013 csv or folder; None → synthetic
reports_dir = None    # default: reports/<preset>/

# %%
import os

from IPython.display import Markdown, display

from hybridlib import config, plots
from hybridlib.study.privacy import attack, study

ctx = config.context(preset, data_path=data_path, reports_dir=reports_dir)
plots.setup_style()
display(Markdown(f"**Data:** {ctx.data_label} · load average {os.getloadavg()[0]:.1f} before the run"))

# %% [markdown]
# ## Inversion of every shipped tensor
#
# One row per shipped tensor × wire × attacker. `bytes` is one face's tensor on the wire (no codec).

# %%
st = study.run_study(ctx)
if st is None:
    display(Markdown("**Skipped:** no trained emotion CNN for this preset (run 01_train); see `summary.md`."))
else:
    p = st.payload
    display(Markdown(f"**{st.sizes.n_train} attacker faces, {st.sizes.n_test} held-out faces** · raw crop: emotion "
                     f"{100 * p['raw_crop_emotion_acc']['value']:.1f}% [{100 * p['raw_crop_emotion_acc']['lo']:.1f}, "
                     f"{100 * p['raw_crop_emotion_acc']['hi']:.1f}] · majority class {100 * p['chance_emotion_acc']:.1f}% · "
                     f"self-match chance {100 * p['self_match_chance']:.2f}% · {p['seconds']['total']:.1f} s"
                     + (f" · converter left out: {p['converter_left_out']}" if p["converter_left_out"] else "")))
    cols = ["shipped", "wire", "attacker", "bytes", "ssim", "psnr_db", "emotion_acc", "self_match"]
    display(st.result.rows[cols].round(3))

# %% [markdown]
# ## The strongest attacker per shipped tensor (the faces it rebuilds are in the figure above)

# %%
if st is not None:
    best = attack.best_rows(st.result.rows)
    display(best[["shipped", "wire", "attacker", "ssim", "ssim_lo", "ssim_hi", "psnr_db", "emotion_acc",
                  "emotion_acc_lo", "emotion_acc_hi", "self_match"]].round(3))
    display(Markdown(f"- {p['identity_note']}.\n- Attacker classifier: {p['attacker_classifier']}."))
