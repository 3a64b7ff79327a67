"""Files written atomically keep what an editor would keep: mode, symlinks,
durability; only regular files are replaced (the CLI's -o targets of every
other type are in test_hostile_output.py)."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cpucompat.atomic import write_atomic, write_output
from cpucompat.errors import CpuCompatError


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("before", [0o644, 0o640, 0o600, 0o664])
def test_replacing_a_file_keeps_its_mode(tmp_path, before):
    path = tmp_path / "report.html"
    path.write_text("old")
    path.chmod(before)
    write_atomic(path, "new")
    assert path.read_text() == "new" and mode(path) == before


def test_a_new_file_gets_the_mode_open_would_give_it(tmp_path):
    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "new.svg", b"<svg/>")
        (tmp_path / "reference").write_text("")
    finally:
        os.umask(old)
    assert mode(tmp_path / "new.svg") == mode(tmp_path / "reference") == 0o640


def test_a_symlink_stays_a_link_and_its_target_is_replaced(tmp_path):
    (tmp_path / "reports").mkdir()
    target = tmp_path / "reports" / "2024.html"
    target.write_text("old")
    link = tmp_path / "latest.html"
    link.symlink_to(target)
    write_atomic(link, "new")
    assert link.is_symlink() and link.resolve() == target
    assert target.read_text() == "new"
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["2024.html"]


def test_the_file_and_then_its_directory_are_flushed(tmp_path, monkeypatch):
    flushed = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        flushed.append("directory" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_atomic(tmp_path / "graph.dot", "digraph {}")
    assert flushed == ["file", "directory"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "report.html"
    path.write_text("old")

    def refuse(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(CpuCompatError, match="report.html: cannot write: No space left on device"):
        write_atomic(path, "new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_only_a_regular_file_is_ever_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(CpuCompatError, match="pipe: cannot replace a FIFO: only a regular file is replaced"):
        write_atomic(fifo, "new")
    with pytest.raises(CpuCompatError, match="cannot replace a directory"):
        write_atomic(tmp_path, "new")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and [p.name for p in tmp_path.iterdir()] == ["pipe"]


def test_write_output_replaces_a_file_and_writes_a_new_one_atomically(tmp_path, monkeypatch):
    replaced = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (replaced.append(Path(b).name), real_replace(a, b)))
    old = tmp_path / "old.html"
    old.write_text("old")
    assert write_output(old, "new") is False and write_output(tmp_path / "new.dot", b"graph") is False
    assert replaced == ["old.html", "new.dot"]
    assert old.read_text() == "new" and (tmp_path / "new.dot").read_bytes() == b"graph"


def test_write_output_to_dash_is_standard_output(capsysbinary):
    assert write_output("-", "digraph {}\n") is True
    assert capsysbinary.readouterr().out == b"digraph {}\n"
