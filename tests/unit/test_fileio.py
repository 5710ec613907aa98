"""Atomic outputs: what a killed writer left behind is cleaned by the next writer, a live writer's is not."""

from __future__ import annotations

import os
import subprocess
import sys

from toolkit.fileio import atomic_directory, atomic_open


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    dead, alive = _dead_pid(), os.getppid()
    stale = tmp_path / f".out.txt.{dead}.k3j2.tmp"
    stale.write_text("half")
    running = tmp_path / f".out.txt.{alive}.x9.tmp"
    running.write_text("still being written")
    other = tmp_path / f".other.txt.{dead}.q.tmp"
    other.write_text("not ours")
    longer = tmp_path / f".out.txt.7.{dead}.z.tmp"  # a temporary of the output `out.txt.7`, not ours
    longer.write_text("another output's")
    with atomic_open(tmp_path / "out.txt") as handle:
        handle.write("complete\n")
    assert (tmp_path / "out.txt").read_text() == "complete\n"
    assert not stale.exists() and running.exists() and other.exists() and longer.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out.txt", running.name, other.name, longer.name])


def test_a_killed_writers_temporary_directory_is_removed_by_the_next_write(tmp_path):
    stale = tmp_path / f".data-bin.{_dead_pid()}.abc.tmp"
    (stale / "inner").mkdir(parents=True)
    (stale / "inner" / "x.bin").write_bytes(b"\0" * 10)
    with atomic_directory(tmp_path / "data-bin") as building:
        assert building.name.startswith(f".data-bin.{os.getpid()}.")
        (building / "dict.txt").write_text("a 1\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data-bin"]
    assert (tmp_path / "data-bin" / "dict.txt").read_text() == "a 1\n"
