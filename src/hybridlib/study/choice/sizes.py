"""How much of the choice study each preset runs (kept here, not in :mod:`hybridlib.config`).

``full`` runs every network × device class × link × load; ``quick`` the small networks (DIG,
ASR, POS, NER, CHK) on the phone (×4) and low-end (×10) classes over Wi-Fi, and the emotion CNN
(a sample of its cuts) on both classes over LTE and Wi-Fi, at an idle server; ``smoke`` one small
network in two cells.

Why these quick cells: the small networks take milliseconds on the device, so on the phone class
one end wins by 6–60× and almost no case can discriminate a good engine from "always device-only"
(the earlier quick grid, phone × 3G/Wi-Fi, had 1–2 discriminating cases in 11). In a trial run of
phone/low-end × LTE/Wi-Fi the ends came closest on the low-end class over Wi-Fi (ASR 1.6×) and for
the emotion CNN (phone Wi-Fi 1.1×); its low-end LTE cell, expected close from its neighbours,
measured 1.1× when added. The small networks over LTE were 9–20× apart and an LTE execution costs
far more than a Wi-Fi one (a 70 ms round trip per cut), so they stay in ``full`` with 3G. Quick's
cost against the earlier grid, side by side from cold caches: ``benchmarks/bench_choice_sizes.py``.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from hybridlib.utils import InputError

DEVICES = ("desktop", "phone", "lowend")
LINKS = ("3g", "lte", "wifi")
LOADS = ("idle", "loaded")

#: (device class, link, load)
Cell = tuple[str, str, str]


def grid(devices: tuple[str, ...] = DEVICES, links: tuple[str, ...] = LINKS,
         loads: tuple[str, ...] = LOADS) -> tuple[Cell, ...]:
    """Every (device, link, load) cell of the given axes, in table order."""
    return tuple((d, n, l) for l, d, n in itertools.product(loads, devices, links))


@dataclass(frozen=True)
class ChoiceSize:
    """One preset's size of the choice study.

    ``networks``: model names (:func:`hybridlib.study.choice.networks.registry`); ``cells``: the
    (device, link, load) cells every network runs, ``sampled``: per network a smaller cell set
    (said in the notebook); ``max_cuts``: execute every cut point up to this many, else a sample
    of ``sample_cuts`` (both ends, the engine's picks, seeded random others); ``cut_cap``: per
    network a smaller sample; ``repeats``/``warmup``: timed/untimed reps per cut; ``probe_reps``:
    the unscored calibration probe's reps; ``overhead_reps``: the offload-overhead profile's round
    trips per (network, device class) (:mod:`hybridlib.study.choice.overhead`); ``readback``: measure CPU rate and link per run."""

    name: str
    networks: tuple[str, ...]
    cells: tuple[Cell, ...]
    sampled: tuple[tuple[str, tuple[Cell, ...]], ...] = ()
    max_cuts: int = 30
    sample_cuts: int = 12
    cut_cap: tuple[tuple[str, int], ...] = ()
    repeats: int = 5
    warmup: int = 2
    probe_reps: int = 5
    overhead_reps: int = 5
    profile_repeats: int = 5
    readback: bool = True
    seed: int = 0
    load_users: int = 2
    notes: tuple[str, ...] = field(default=())

    def cells_for(self, network: str) -> tuple[Cell, ...]:
        return dict(self.sampled).get(network, self.cells)

    def cap_for(self, network: str) -> int | None:
        return dict(self.cut_cap).get(network)


SIZES: dict[str, ChoiceSize] = {
    "smoke": ChoiceSize("smoke", networks=("dig",), cells=(("phone", "lte", "idle"), ("phone", "wifi", "idle")),
                        repeats=2, warmup=1, probe_reps=3, overhead_reps=3, profile_repeats=3, readback=False),
    "quick": ChoiceSize("quick", networks=("dig", "asr", "pos", "ner", "chk", "emotion_cnn"),
                        cells=grid(("phone", "lowend"), ("wifi",), ("idle",)),
                        sampled=(("emotion_cnn", grid(("phone", "lowend"), ("lte", "wifi"), ("idle",))),),
                        cut_cap=(("emotion_cnn", 6),), repeats=3, warmup=1, probe_reps=3, overhead_reps=3,
                        profile_repeats=3, readback=False,
                        notes=(("DIG, ASR, POS, NER, CHK on the phone (×4) and low-end (×10) classes over Wi-Fi, "
                                "the emotion CNN on both classes over LTE and Wi-Fi with a sample of its cuts (both "
                                "ends, the engine's picks, seeded random others), at an idle server; AlexNet, VGG, "
                                "FACE, 3G, LTE for the small networks, the desktop class and the loaded server only "
                                "at full (09 executes AlexNet at quick)"),)),
    "full": ChoiceSize("full", networks=("alexnet", "vgg", "face", "dig", "asr", "pos", "ner", "chk", "emotion_cnn"),
                       cells=grid(), repeats=7, warmup=2, probe_reps=7, profile_repeats=7, readback=True),
}


def size_for(preset: str) -> ChoiceSize:
    """The choice study's size for ``preset`` (smoke | quick | full)."""
    if preset not in SIZES:
        raise InputError(f"no choice-study size for preset {preset!r}; have {', '.join(SIZES)}")
    return SIZES[preset]
