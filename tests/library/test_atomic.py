"""bnnfer.atomic: the new content lands whole, a failing write leaves the old file as it was and
no temporary file behind, the folder is created, and the file is readable by everyone."""

from __future__ import annotations

import json
import stat

import numpy as np
import pytest

from bnnfer.atomic import write_atomic, write_bytes_atomic, write_text_atomic


def test_writes_bytes_text_and_npz_into_a_new_folder(tmp_path):
    folder = tmp_path / "a" / "b"
    assert write_bytes_atomic(folder / "x.bin", b"\x00\x01") == folder / "x.bin"
    assert (folder / "x.bin").read_bytes() == b"\x00\x01"
    write_text_atomic(folder / "x.json", json.dumps({"é": 1}))
    assert json.loads((folder / "x.json").read_text(encoding="utf-8")) == {"é": 1}
    write_atomic(folder / "x.npz", lambda file: np.savez(file, a=np.arange(3)))
    with np.load(folder / "x.npz") as held:
        np.testing.assert_array_equal(held["a"], np.arange(3))
    assert sorted(p.name for p in folder.iterdir()) == ["x.bin", "x.json", "x.npz"]


def test_a_failing_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "state.json"
    write_text_atomic(path, "old")

    def half_then_fail(file):
        file.write(b"new but cut sh")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, half_then_fail)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_an_interrupt_also_cleans_up(tmp_path):
    def interrupted(file):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "x", interrupted)
    assert list(tmp_path.iterdir()) == []


def test_the_file_is_readable_by_everyone(tmp_path):
    path = write_bytes_atomic(tmp_path / "weights.safetensors", b"w")
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode & 0o444 == 0o444  # mkstemp's private 0o600 would hide a shared cache
