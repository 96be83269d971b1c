"""12: privacy of what is shipped — how much of the face can be rebuilt from what leaves the phone.

Seeds 000, 002 and 004 claim that in the hybrid/split designs "features, not faces, leave the
phone". Here that claim is measured: an attacker who sees the tensor on the wire (the emotion CNN's
cut tensor at an early, middle and late cut, the early-exit converter's code, each as float32 and
as the wire's uint8) trains an inversion model on faces of its own and rebuilds 48×48 faces from
held-out tensors. Reported per cut: SSIM and PSNR of the reconstructions, the emotion an attacker
classifier (the emotion CNN, trained on raw crops, never on reconstructions) reads from them beside
the raw crop, and how often a reconstruction is matched to its own source face among the test
faces. The identity "cut" (raw pixels) is the reference at one end, a constant tensor at the other.

Modules: :mod:`.metrics` (SSIM, PSNR, matching), :mod:`.invert` (ridge and conv decoders, the
uint8 wire round trip), :mod:`.attack` (the steps on a model and a dataset), :mod:`.figures`.
"""
