import json
import os

import numpy as np
import pytest

from rppg_lib.atomic import atomic_write_json, atomic_write_text, atomic_write_with, move_aside
from rppg_lib.video_io import write_video


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "metrics.json"
    atomic_write_json(target, {"b": 2, "a": 1})
    atomic_write_json(target, {"a": 3})
    assert json.loads(target.read_text()) == {"a": 3}
    assert os.listdir(target.parent) == ["metrics.json"]


def test_failed_write_keeps_previous_content(tmp_path):
    target = tmp_path / "report.txt"
    atomic_write_text(target, "old")

    def broken_writer(handle):
        handle.write(b"half")
        raise RuntimeError("crash while writing")

    with pytest.raises(RuntimeError, match="crash while writing"):
        atomic_write_with(target, broken_writer)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["report.txt"]


def test_output_folder_that_cannot_be_created_is_named(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(PermissionError, match="not_a_folder"):
        atomic_write_text(blocker / "x.txt", "data")


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="file modes are POSIX")
@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_get_the_umask_mode(tmp_path, umask, mode):
    # mkstemp alone makes 0600 files: a shared report would be unreadable to colleagues
    old = os.umask(umask)
    try:
        paths = [
            atomic_write_text(tmp_path / "report.txt", "x"),
            atomic_write_json(tmp_path / "metrics.json", {"a": 1}),
            atomic_write_with(tmp_path / "weights.pt", lambda f: f.write(b"\0")),
        ]
        write_video(tmp_path / "clip.avi", np.zeros((2, 8, 8, 3), np.uint8), 30.0)
        paths.append(tmp_path / "clip.avi")
        plain = tmp_path / "plain.txt"
        plain.write_text("x")  # what open() gives under this umask
    finally:
        os.umask(old)
    assert oct(plain.stat().st_mode & 0o777) == oct(mode)
    for path in paths:
        assert oct(path.stat().st_mode & 0o777) == oct(mode), path.name


def test_move_aside_keeps_every_previous_result(tmp_path):
    out = tmp_path / "out"
    names = []
    for text in ("first", "second"):
        out.mkdir()
        (out / "summary.json").write_text(text)
        names.append(move_aside(out))
    assert not out.exists()
    assert len(set(names)) == 2 and all(n.name.startswith("out.old-") for n in names)
    assert sorted((n / "summary.json").read_text() for n in names) == ["first", "second"]
