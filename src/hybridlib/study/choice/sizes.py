"""How much of the choice study each preset runs (kept here, not in :mod:`hybridlib.config`).

``full`` runs every network × device class × link × load; ``quick`` the small networks (DIG,
ASR, POS, NER, CHK) on the phone class over 3G and Wi-Fi at an idle server, plus the emotion CNN
in one cell with a sample of its cuts; ``smoke`` one small network in two cells. Measured on the
shared 2-core machine (load average 8–10): quick ≈ 4.5 min with AlexNet and LTE, hence this cut.
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
    the unscored calibration probe's reps; ``readback``: measure CPU rate and link per run."""

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
                        repeats=2, warmup=1, probe_reps=3, profile_repeats=3, readback=False),
    "quick": ChoiceSize("quick", networks=("dig", "asr", "pos", "ner", "chk", "emotion_cnn"),
                        cells=grid(("phone",), ("3g", "wifi"), ("idle",)),
                        sampled=(("emotion_cnn", (("phone", "wifi", "idle"),)),),
                        cut_cap=(("emotion_cnn", 6),), repeats=3, warmup=1, probe_reps=3,
                        profile_repeats=3, readback=False,
                        notes=(("DIG, ASR, POS, NER, CHK on the phone class over 3G and Wi-Fi at an idle server; "
                                "the emotion CNN on phone × Wi-Fi × idle with a sample of its cuts (both ends, the "
                                "engine's picks, seeded random others); AlexNet, VGG, FACE, LTE, the desktop and "
                                "low-end classes and the loaded server only at full (09 executes AlexNet at quick)"),)),
    "full": ChoiceSize("full", networks=("alexnet", "vgg", "face", "dig", "asr", "pos", "ner", "chk", "emotion_cnn"),
                       cells=grid(), repeats=7, warmup=2, probe_reps=7, profile_repeats=7, readback=True),
}


def size_for(preset: str) -> ChoiceSize:
    """The choice study's size for ``preset`` (smoke | quick | full)."""
    if preset not in SIZES:
        raise InputError(f"no choice-study size for preset {preset!r}; have {', '.join(SIZES)}")
    return SIZES[preset]
