"""Which networks the choice study knows, and how each lines up with a column of 003's table.

Data-driven: the emotion CNN and AlexNet (IMC) plus every benchmark of
:data:`hybridlib.models.neurosurgeon.NEUROSURGEON` that :mod:`hybridlib.export.split_assets` can
execute. ``family`` groups them as 003 does (vision, speech, NLP) for the per-cut bars.
"""
from __future__ import annotations

from dataclasses import dataclass

from hybridlib.export import split_assets
from hybridlib.models import neurosurgeon

#: 003's column order ("More Applications"), then ours
COLUMN_ORDER = ("IMC", "VGG", "FACE", "DIG", "ASR", "POS", "NER", "CHK", "EMO")
FAMILY = {"image": "vision", "speech": "speech", "word vectors": "nlp"}


@dataclass(frozen=True)
class Net:
    """A network of the study: our model name, its column, 003's benchmark (None: not in 003)."""

    model: str
    column: str
    network: str
    family: str
    bench003: str | None


def registry() -> dict[str, Net]:
    """Every executable network by model name, in 003's column order."""
    nets = {"emotion_cnn": Net("emotion_cnn", "EMO", "emotion CNN (ours)", "vision", None),
            "alexnet": Net("alexnet", "IMC", "AlexNet", "vision", "IMC")}
    for model, bench in getattr(split_assets, "NEUROSURGEON_MODELS", {}).items():
        b = neurosurgeon.NEUROSURGEON[bench]
        nets[model] = Net(model, bench, b.network, FAMILY.get(b.input, "vision"), bench)
    return dict(sorted(nets.items(), key=lambda kv: COLUMN_ORDER.index(kv[1].column)))


def column(model: str) -> str:
    """The table column of ``model`` (its 003 benchmark name, or EMO)."""
    return registry()[model].column
