"""Atomic file writing: a reader never sees a half-written output."""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from toolkit.errors import UserError


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temporaries(path: Path) -> None:
    """Remove what a killed writer of `path` left: `.NAME.PID.*.tmp` of processes no longer alive.

    A kill -9 gives a writer no chance to clean up; the next writer of the same output does it,
    and leaves alone the temporaries of a writer that is still running. (A writer on another host
    sharing the directory would look dead: nmt's outputs are written by one machine.)
    """
    if os.name != "posix":  # the liveness test below is POSIX's
        return
    # The exact shape mkstemp/mkdtemp give: `.NAME.PID.<random>.tmp` (never another output's `.NAME.x.PID...`).
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[A-Za-z0-9_]+\.tmp")
    for stale in path.parent.iterdir():
        match = pattern.fullmatch(stale.name)
        pid = int(match.group(1)) if match else None
        if pid is not None and pid != os.getpid() and not _alive(pid):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}."


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync it and rename it into place.

    On any exception (including KeyboardInterrupt) the temporary file is removed and the
    previous `path`, if any, is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp_name = tempfile.mkstemp(prefix=_temporary_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        # mkstemp creates 0600; give the result the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file for writing that replaces `path` only when closed cleanly."""
    if "b" in mode:
        encoding = None
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Build a directory under a temporary name and rename it into place at the end."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = Path(tempfile.mkdtemp(prefix=_temporary_prefix(path), suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700
        if path.exists():
            if not overwrite:
                raise UserError(f"{path} already exists")
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def open_text(path: str | os.PathLike, encoding_errors: str = "strict") -> IO[str]:
    """Open plain or gzipped text for reading (gzip detected by the `.gz` suffix)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"file not found: {path}")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors=encoding_errors, newline="\n")
    return open(path, encoding="utf-8", errors=encoding_errors, newline="\n")


def resolve_text_file(prefix: str | os.PathLike, suffix: str) -> Path:
    """Find `PREFIX.SUFFIX` or `PREFIX.SUFFIX.gz`; raise a UserError naming both if neither exists."""
    plain = Path(f"{prefix}.{suffix}")
    gz = Path(f"{prefix}.{suffix}.gz")
    if plain.is_file():
        return plain
    if gz.is_file():
        return gz
    raise UserError(f"file not found: {plain} (nor {gz.name})")
