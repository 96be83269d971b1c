"""hybridlib.study.early_exit.figures: each figure draws the table's numbers (checked on the artists)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from hybridlib.study.early_exit import figures as eefig  # noqa: E402
from hybridlib.utils import InputError  # noqa: E402


def _sweep(shift: float) -> pd.DataFrame:
    t = np.array([0.0, 0.5, 1.0])
    return pd.DataFrame({"threshold": t, "exit_fraction": t, "overall_acc": 0.6 + shift + 0 * t,
                         "branch_acc": [0.3, 0.3, 0.3], "final_acc": [0.7, 0.7, 0.7]})


def test_threshold_sweep_draws_the_sweep_and_T():
    import matplotlib.pyplot as plt

    fig = eefig.threshold_sweep({"validation": _sweep(0.0), "test": _sweep(0.1)}, 0.5, "t")
    ax_val, ax_test = fig.axes
    assert ax_val.get_title() == "validation" and ax_test.get_title() == "test"
    lines = ax_test.get_lines()
    np.testing.assert_allclose(lines[1].get_ydata(), [0.7, 0.7, 0.7])  # overall accuracy of the test sweep
    assert list(lines[4].get_xdata()) == [0.5, 0.5]  # the chosen T
    plt.close(fig)
    with pytest.raises(InputError, match="final_acc"):
        eefig.threshold_sweep({"test": _sweep(0).drop(columns="final_acc")}, 0.5, "t")


def test_bandwidth_reference_is_first_row():
    import matplotlib.pyplot as plt

    bw = pd.DataFrame({"scheme": ["cloud-only", "early exit + uint8"], "bytes_per_frame": [2304.0, 100.0]})
    fig = eefig.bandwidth(bw, "b")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    (ref,) = [l for l in ax.get_lines() if l.get_label() == "cloud-only pixels"]
    assert list(ref.get_xdata()) == [2304.0, 2304.0]
    assert sorted(p.get_width() for p in ax.patches) == [100.0, 2304.0]
    plt.close(fig)
    with pytest.raises(InputError, match="empty"):
        eefig.bandwidth(bw.iloc[:0], "b")


def test_converter_curves_marks_point_budget_and_alternatives():
    import matplotlib.pyplot as plt

    curve = pd.DataFrame({"split": ["test"] * 4 + ["val"], "channels": [1, 1, 4, 4, 1], "codec": ["zlib"] * 5,
                          "threshold": [0.0, 1.0, 0.0, 1.0, 0.0], "bytes_per_input": [40.0, 0.0, 90.0, 0.0, 1.0],
                          "overall_acc": [0.6, 0.5, 0.65, 0.5, 0.9], "exit_fraction": [0.0, 1.0, 0.0, 1.0, 0.0]})
    fig = eefig.converter_curves(curve, {"crop raw": 2304.0}, {"bytes_per_input": 40.0, "overall_acc": 0.6},
                                 0.62, 0.01, "c")
    left, right = fig.axes
    lines = left.get_lines()
    # C = 1 (test only, 0 B clipped to 0.5 for the log axis)
    np.testing.assert_allclose(lines[0].get_xdata(), [40.0, 0.5])
    assert [l.get_label() for l in lines[:2]] == ["C = 1 (zlib)", "C = 4 (zlib)"]
    assert list(lines[2].get_xdata()) == [2304.0, 2304.0]  # the alternative
    np.testing.assert_allclose(lines[3].get_ydata(), [0.61, 0.61])  # budget = reference − tolerance
    assert list(lines[4].get_xdata()) == [40.0] and list(lines[4].get_ydata()) == [0.6]  # the operating point
    assert len(right.get_lines()) == 2
    plt.close(fig)
    with pytest.raises(InputError, match="no test rows"):
        eefig.converter_curves(curve[curve.split == "val"], {}, {"bytes_per_input": 1, "overall_acc": 1}, 1, 0, "c")


def test_converter_curves_draws_the_paired_band_when_the_curve_has_it():
    import matplotlib.pyplot as plt

    curve = pd.DataFrame({"split": ["test"] * 3, "channels": [2, 2, 2], "codec": ["none"] * 3,
                          "threshold": [0.2, 0.5, 0.8], "bytes_per_input": [90.0, 40.0, 10.0],
                          "overall_acc": [0.7, 0.69, 0.6], "exit_fraction": [0.3, 0.6, 0.9],
                          "acc_diff": [0.002, -0.004, -0.03], "acc_diff_lo": [-0.01, -0.02, -0.05],
                          "acc_diff_hi": [0.01, 0.012, -0.01]})
    fig = eefig.converter_curves(curve, {}, {"bytes_per_input": 40.0, "overall_acc": 0.69}, 0.7, 0.01, "c")
    band_ax = fig.axes[2]
    line = band_ax.get_lines()[0]
    # sorted by bytes, in points
    np.testing.assert_allclose(line.get_xdata(), [10.0, 40.0, 90.0])
    np.testing.assert_allclose(line.get_ydata(), [-3.0, -0.4, 0.2])
    np.testing.assert_allclose(band_ax.get_lines()[1].get_ydata(), [-1.0, -1.0])  # the budget
    assert len(band_ax.collections) == 1  # the 95% band
    plt.close(fig)
    # without the interval columns: two panels, as before
    assert len(eefig.converter_curves(curve.drop(columns=["acc_diff_lo"]), {}, {"bytes_per_input": 40.0,
                                      "overall_acc": 0.69}, 0.7, 0.01, "c").axes) == 2


def test_edgent_accuracy_infeasible_is_zero():
    import matplotlib.pyplot as plt

    ed = pd.DataFrame({"device": ["phone", "phone", "desktop", "desktop"], "network": ["lte"] * 4,
                       "deadline_ms": [10, 100, 10, 100], "edgent_acc": [np.nan, 0.6, 0.5, 0.6],
                       "neurosurgeon_acc": [np.nan, np.nan, 0.5, 0.6]})
    fig = eefig.edgent_accuracy(ed, "e")
    assert [a.get_title() for a in fig.axes] == ["phone", "desktop"]  # table order, not sorted
    ed_line, ns_line = fig.axes[0].get_lines()
    np.testing.assert_allclose(ed_line.get_ydata(), [0.0, 0.6])
    np.testing.assert_allclose(ns_line.get_ydata(), [0.0, 0.0])
    plt.close(fig)
    with pytest.raises(InputError, match="neurosurgeon_acc"):
        eefig.edgent_accuracy(ed.drop(columns="neurosurgeon_acc"), "e")
