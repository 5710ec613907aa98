"""Reading and checking preprocessing inputs and the destination, before any slow work."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import UserError
from toolkit.fileio import resolve_text_file


@dataclass
class InputFile:
    path: Path
    size: int
    sha256: str
    lines: list[str]

    def describe(self) -> dict:
        return {"path": str(self.path), "bytes": self.size, "sha256": self.sha256, "lines": len(self.lines)}


def read_lines(path: Path, encoding_errors: str = "strict") -> InputFile:
    """All lines of a UTF-8 (optionally gzipped) file; a bad byte names the file and line."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise UserError(f"{path}: cannot read ({error.strerror})") from None
    digest = hashlib.sha256(raw).hexdigest()
    size = len(raw)
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise UserError(f"{path}: not a valid gzip file ({error})") from None
    try:
        text = raw.decode("utf-8", errors=encoding_errors)
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise UserError(
            f"{path}, line {line}: invalid UTF-8 byte 0x{raw[error.start]:02x}"
            " (fix the file, or pass --encoding-errors replace)"
        ) from None
    # Split on "\n" only (as `wc -l` counts): other Unicode line breaks stay inside a line.
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return InputFile(path, size, digest, lines)


def read_text(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: unreadable {what} ({error})") from None


def read_inputs(config) -> dict[tuple[str, str], InputFile]:
    """(split, lang) -> file, for every split; checks presence, emptiness and alignment."""
    paths = {
        (split, lang): resolve_text_file(prefix, lang) for split, prefix in config.splits() for lang in config.languages
    }
    inputs = {key: read_lines(path, config.encoding_errors) for key, path in paths.items()}
    for split, _ in config.splits():
        files = [inputs[split, lang] for lang in config.languages]
        for f in files:
            if not f.lines:
                raise UserError(f"{f.path} is empty (split {split!r})")
        if len(files) == 2 and len(files[0].lines) != len(files[1].lines):
            a, b = files
            raise UserError(
                f"{a.path} has {len(a.lines)} lines but {b.path} has {len(b.lines)}:"
                " parallel files must be line-aligned"
            )
    return inputs


def check_destination(destdir: Path, fingerprint: dict, overwrite: bool) -> dict | None:
    """None to go ahead; the stored metadata if `destdir` already holds this exact work.

    A destination holding anything else is refused unless `overwrite`.
    """
    if destdir.exists() and not destdir.is_dir():
        raise UserError(f"--destdir {destdir} exists and is not a directory")
    if overwrite or not destdir.exists() or not any(os.scandir(destdir)):
        return None
    try:
        stored = json.loads((destdir / "preprocess.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UserError(
            f"{destdir} already exists and was not made by nmt preprocess; pass --overwrite to replace it"
        ) from None
    differences = _differences(stored, fingerprint)
    if not differences:
        return stored
    shown = ", ".join(differences[:4]) + (", ..." if len(differences) > 4 else "")
    raise UserError(
        f"{destdir} already holds a different preprocessing ({shown} differ); pass --overwrite to replace it"
    )


def _differences(stored: dict, wanted: dict) -> list[str]:
    out = []
    for key in ("format_version", "config", "inputs"):
        a, b = stored.get(key), wanted.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += [f"{key}.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        elif a != b:
            out.append(key)
    return out
