"""utils: atomic writes end with the user's umask, not mkstemp's 0600."""
from __future__ import annotations

import os
import stat

import pytest

from hybridlib import utils


@pytest.fixture()
def umask():
    """Set a umask for one test and restore the caller's afterwards."""
    old = os.umask(0o022)
    os.umask(old)

    def set_(mask: int) -> None:
        os.umask(mask)

    yield set_
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_write_follows_umask(tmp_path, umask, mask, mode):
    umask(mask)
    assert utils.current_umask() == mask
    p = utils.write_text_atomic(tmp_path / "r.json", "{}\n")
    assert stat.S_IMODE(p.stat().st_mode) == mode
    # the same mode as a plain open() would give
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert stat.S_IMODE(plain.stat().st_mode) == mode


def test_atomic_path_directory_keeps_search_bit(tmp_path, umask):
    umask(0o022)
    target = tmp_path / "model_dir"
    with utils.atomic_path(target) as tmp:
        tmp.unlink()
        tmp.mkdir()
        (tmp / "w.bin").write_bytes(b"1")
    assert stat.S_IMODE(target.stat().st_mode) == 0o755 and (target / "w.bin").read_bytes() == b"1"


def test_export_atomic_dir_follows_umask(tmp_path, umask):
    from hybridlib.export import atomic_dir

    umask(0o022)
    with atomic_dir(tmp_path / "tfjs") as d:
        (d / "model.json").write_text("{}")
    assert stat.S_IMODE((tmp_path / "tfjs").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "tfjs" / "model.json").stat().st_mode) == 0o644


def test_native_stderr_is_captured_not_shown(capfd):
    """What native code writes to fd 2 (TensorFlow's C++ start-up) is captured, not printed."""
    import os

    from hybridlib.utils import native_stderr_captured

    with native_stderr_captured() as lines:
        os.write(2, b"E0000 cuda_dnn.cc: Unable to register cuDNN factory\nsecond line\n")
    assert lines == ["E0000 cuda_dnn.cc: Unable to register cuDNN factory", "second line"]
    os.write(2, b"after\n")
    err = capfd.readouterr().err
    assert "cuDNN" not in err and "after" in err
