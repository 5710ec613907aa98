"""Reading and checking preprocessing inputs and the destination, before any slow work.

Inputs are checked in one streaming pass (hash, line count, gzip and UTF-8 validity) and
read again later chunk by chunk, so no file is ever held in memory whole.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import UserError
from toolkit.fileio import resolve_text_file

READ_BLOCK = 1 << 20  # bytes read at a time while checking a file
MONOLINGUAL = "monolingual"  # the input key of --monolingual-trainpref text: "monolingual.LANG"


@dataclass
class InputFile:
    path: Path
    size: int
    sha256: str
    num_lines: int
    encoding_errors: str = "strict"
    lines: list[str] | None = None  # only from read_lines (the whole file, for scoring)

    def describe(self) -> dict:
        return {"path": str(self.path), "bytes": self.size, "sha256": self.sha256, "lines": self.num_lines}

    def chunks(self, chunk_lines: int) -> Iterator[list[str]]:
        """The lines again, `chunk_lines` at a time, decoded as the check decoded them."""
        return read_chunks(self.path, chunk_lines, self.encoding_errors)


def read_chunks(path: str | os.PathLike, chunk_lines: int, encoding_errors: str = "strict") -> Iterator[list[str]]:
    """The lines of a text file (gzipped if named .gz), `chunk_lines` at a time, without their "\\n".

    Decoded block by block exactly as `scan_file` checks them, so the lines are the ones it counted.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        buffer: list[str] = []
        for block in _line_blocks(path, handle):
            lines = block.decode("utf-8", errors=encoding_errors).split("\n")
            if lines[-1] == "":  # the block ended with a newline
                lines.pop()
            buffer += lines
            start = 0
            while len(buffer) - start >= chunk_lines:
                yield buffer[start : start + chunk_lines]
                start += chunk_lines
            buffer = buffer[start:]
        if buffer:
            yield buffer


class _HashingReader:
    """A binary file whose bytes are hashed and counted as they are read (under gzip, the raw bytes)."""

    def __init__(self, handle) -> None:
        self.handle, self.digest, self.size = handle, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self.handle.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data


def _line_blocks(path: Path, raw) -> Iterator[bytes]:
    """Decompressed bytes in blocks that end with a newline (the last one may not)."""
    stream = gzip.GzipFile(fileobj=raw, mode="rb") if path.suffix == ".gz" else raw
    pending: list[bytes] = []  # the start of a line that goes on in the next read (a list: lines can be long)
    try:
        while block := stream.read(READ_BLOCK):
            cut = block.rfind(b"\n") + 1
            if cut:
                yield b"".join([*pending, block[:cut]])
                pending = []
            pending.append(block[cut:])
    except (OSError, EOFError, zlib.error) as error:
        if stream is raw:  # plain text: a read error, not a format error
            raise
        raise UserError(f"{path}: not a valid gzip file ({error})") from None
    if tail := b"".join(pending):
        yield tail
    while raw.read(READ_BLOCK):  # hash whatever follows the gzip stream too
        pass


def scan_file(path: Path, encoding_errors: str = "strict", keep_lines: bool = False) -> InputFile:
    """Hash, count and decode a UTF-8 (optionally gzipped) file; a bad byte names the file and line.

    Lines end at "\\n" only (as `wc -l` counts): other Unicode line breaks stay inside a line.
    Blocks are cut at newlines, which never fall inside a UTF-8 sequence, so decoding them one
    by one gives exactly what decoding the whole file would.
    """
    try:
        handle = open(path, "rb")
    except OSError as error:
        raise UserError(f"{path}: cannot read ({error.strerror})") from None
    lines: list[str] | None = [] if keep_lines else None
    count, last = 0, b"\n"
    with handle:
        raw = _HashingReader(handle)
        try:
            for block in _line_blocks(path, raw):
                try:
                    text = block.decode("utf-8", errors=encoding_errors)
                except UnicodeDecodeError as error:
                    line = count + block.count(b"\n", 0, error.start) + 1
                    raise UserError(
                        f"{path}, line {line}: invalid UTF-8 byte 0x{block[error.start]:02x}"
                        " (fix the file, or pass --encoding-errors replace)"
                    ) from None
                count += block.count(b"\n")
                last = block[-1:]
                if lines is not None:
                    lines += text.split("\n")
                    if lines[-1] == "":
                        lines.pop()
        except OSError as error:
            raise UserError(f"{path}: cannot read ({error.strerror or error})") from None
    count += last != b"\n"  # a last line without a newline still counts
    return InputFile(path, raw.size, raw.digest.hexdigest(), count, encoding_errors, lines)


def read_lines(path: Path, encoding_errors: str = "strict") -> InputFile:
    """All lines of a UTF-8 (optionally gzipped) file, in memory (`.lines`); for small files."""
    return scan_file(path, encoding_errors, keep_lines=True)


def read_text(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: unreadable {what} ({error})") from None


def read_inputs(config) -> dict[tuple[str, str], InputFile]:
    """(split, lang) -> file, for every split, then (MONOLINGUAL, lang) for monolingual text.

    Checks presence, emptiness, decoding and alignment, one streaming pass per file.
    """
    paths = {
        (split, lang): resolve_text_file(prefix, lang) for split, prefix in config.splits() for lang in config.languages
    }
    for lang, file in config.monolingual_files().items():
        path = Path(file)
        if not path.is_file():
            raise UserError(f"--monolingual-trainpref {lang}={file}: file not found")
        paths[MONOLINGUAL, lang] = path
    inputs = {key: scan_file(path, config.encoding_errors) for key, path in paths.items()}
    for split in dict.fromkeys(split for split, _ in inputs):
        files = [f for (s, _), f in inputs.items() if s == split]
        for f in files:
            if not f.num_lines:
                what = "monolingual text" if split == MONOLINGUAL else f"split {split!r}"
                raise UserError(f"{f.path} is empty ({what})")
        if split != MONOLINGUAL and len(files) == 2 and files[0].num_lines != files[1].num_lines:
            a, b = files
            raise UserError(
                f"{a.path} has {a.num_lines} lines but {b.path} has {b.num_lines}: parallel files must be line-aligned"
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
