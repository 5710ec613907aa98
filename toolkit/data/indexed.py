"""A versioned memory-mapped dataset of token-id sequences: PREFIX.bin + PREFIX.idx.

PREFIX.bin holds all sequences back to back in one unsigned integer dtype (the smallest
that fits the dictionary). PREFIX.idx, little-endian:

    magic    8 bytes  b"NMTIDX\\x00\\x00"
    version  uint64   1
    dtype    uint8    code, see DTYPES
    count    uint64   number of sequences N
    sizes    int32[N] length of each sequence (in tokens, </s> included)
    offsets  int64[N] byte offset of each sequence in PREFIX.bin

Opening maps both files (np.memmap): near-zero load time and O(1) random access; the
dataset pickles as its prefix, so data-loader workers reopen the maps themselves.
"""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

import numpy as np

from toolkit.errors import UserError
from toolkit.fileio import atomic_path

MAGIC = b"NMTIDX\x00\x00"
VERSION = 1
DTYPES = {1: np.uint8, 2: np.uint16, 3: np.uint32, 4: np.uint64, 5: np.int32, 6: np.int64}
_HEADER = struct.Struct("<8sQBQ")


def dtype_code(dtype) -> int:
    dtype = np.dtype(dtype)
    for code, candidate in DTYPES.items():
        if np.dtype(candidate) == dtype:
            return code
    raise ValueError(f"unsupported dtype {dtype}")


def best_dtype(vocab_size: int) -> type:
    """The smallest unsigned integer type that holds ids 0 .. vocab_size-1."""
    if vocab_size <= 1 << 8:
        return np.uint8
    if vocab_size <= 1 << 16:
        return np.uint16
    if vocab_size <= 1 << 32:
        return np.uint32
    return np.uint64


def index_path(prefix: str | os.PathLike) -> Path:
    return Path(f"{prefix}.idx")


def data_path(prefix: str | os.PathLike) -> Path:
    return Path(f"{prefix}.bin")


def dataset_exists(prefix: str | os.PathLike) -> bool:
    return index_path(prefix).is_file() and data_path(prefix).is_file()


class MMapIndexedDataset:
    """Read-only random access to the sequences under `prefix`.

    `ds[i]` returns an int64 copy (safe to modify, ready for torch); `ds.view(i)` returns
    the raw memory-mapped slice in the stored dtype without copying.
    """

    def __init__(self, prefix: str | os.PathLike) -> None:
        self._open(str(prefix))

    def _open(self, prefix: str) -> None:
        self.prefix = prefix
        idx, binf = index_path(prefix), data_path(prefix)
        if not dataset_exists(prefix):
            raise UserError(f"dataset not found: {idx} / {binf}")
        with idx.open("rb") as handle:
            header = handle.read(_HEADER.size)
        if len(header) < _HEADER.size:
            raise UserError(f"{idx}: truncated index")
        magic, version, code, count = _HEADER.unpack(header)
        if magic != MAGIC:
            raise UserError(f"{idx}: not an nmt index file (bad magic bytes)")
        if version != VERSION:
            raise UserError(f"{idx}: index format version {version}, this nmt reads version {VERSION}")
        if code not in DTYPES:
            raise UserError(f"{idx}: unknown dtype code {code}")
        self.dtype = np.dtype(DTYPES[code])
        expected = _HEADER.size + count * (4 + 8)
        if idx.stat().st_size != expected:
            raise UserError(f"{idx}: size {idx.stat().st_size} bytes, expected {expected}")
        self._index = np.memmap(idx, mode="r", dtype=np.uint8)
        self.sizes = np.frombuffer(self._index, dtype="<i4", count=count, offset=_HEADER.size)
        self.offsets = np.frombuffer(self._index, dtype="<i8", count=count, offset=_HEADER.size + 4 * count)
        total = int(self.sizes.sum(dtype=np.int64)) * self.dtype.itemsize
        if binf.stat().st_size != total:
            raise UserError(f"{binf}: size {binf.stat().st_size} bytes, index expects {total}")
        # An empty file cannot be memory-mapped; an empty array serves the same purpose.
        self._data = np.memmap(binf, mode="r", dtype=self.dtype) if total else np.empty(0, self.dtype)

    def __getstate__(self) -> str:
        return self.prefix

    def __setstate__(self, prefix: str) -> None:
        self._open(prefix)

    def __len__(self) -> int:
        return len(self.sizes)

    def view(self, i: int) -> np.ndarray:
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} sequences")
        start = int(self.offsets[i]) // self.dtype.itemsize
        return self._data[start : start + int(self.sizes[i])]

    def __getitem__(self, i: int) -> np.ndarray:
        return self.view(i).astype(np.int64)

    def stream(self) -> np.ndarray:
        """Every sequence back to back, in order (each ends with its EOS): the memory map itself, no copy."""
        return self._data

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


class _Sizes:
    """A growing int32 array (one entry per sequence): 4 bytes a sequence, not a Python int each."""

    def __init__(self) -> None:
        self._data = np.empty(1024, dtype="<i4")
        self._count = 0

    def extend(self, values) -> None:
        values = np.asarray(values, dtype=np.int64)
        if values.size and values.max() > np.iinfo(np.int32).max:
            raise ValueError("sequence too long for the index (int32 sizes)")
        need = self._count + values.size
        if need > self._data.size:
            grown = np.empty(max(need, 2 * self._data.size), dtype="<i4")
            grown[: self._count] = self._data[: self._count]
            self._data = grown
        self._data[self._count : need] = values
        self._count = need

    def array(self) -> np.ndarray:
        return self._data[: self._count]


class IndexedDatasetBuilder:
    """Append sequences, then `finalize()` writes PREFIX.bin and PREFIX.idx atomically.

    The ids go straight to a temporary file beside PREFIX.bin (named as every nmt temporary
    is, `.NAME.PID.*.tmp`, so a killed writer's is cleaned up by the next), so memory stays
    at the sizes alone however much is added. `abort()`, or leaving a `with` block by an
    exception, removes the temporary.
    """

    def __init__(self, prefix: str | os.PathLike, dtype=np.uint16) -> None:
        self.prefix = str(prefix)
        self.dtype = np.dtype(dtype)
        dtype_code(self.dtype)  # reject unsupported types early
        self._sizes = _Sizes()
        self._tmp: Path | None = None
        self._handle = None

    def __enter__(self) -> IndexedDatasetBuilder:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None:
            self.abort()

    def _write(self, array: np.ndarray) -> None:
        if self._handle is None:
            target = data_path(self.prefix)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
            self._tmp, self._handle = Path(name), os.fdopen(fd, "wb")
        self._handle.write(array.astype(self.dtype.newbyteorder("<"), copy=False).tobytes())

    def _check_range(self, array: np.ndarray) -> None:
        if array.size and (array.min() < 0 or array.max() > np.iinfo(self.dtype).max):
            raise ValueError(f"token id out of range for {self.dtype}")

    def add(self, ids) -> None:
        array = np.asarray(ids)
        self._check_range(array)
        self._write(array)
        self._sizes.extend([array.size])

    def add_many(self, flat_ids: np.ndarray, sizes: np.ndarray) -> None:
        """Append many sequences at once: their ids concatenated, and their lengths."""
        flat = np.asarray(flat_ids)
        if int(np.sum(sizes)) != flat.size:
            raise ValueError("sizes do not add up to the number of ids")
        self._check_range(flat)
        self._write(flat)
        self._sizes.extend(sizes)

    @property
    def sizes(self) -> np.ndarray:
        """The length of every sequence added so far (int32)."""
        return self._sizes.array()

    def abort(self) -> None:
        if self._handle is not None:
            self._handle.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
        self._handle = self._tmp = None

    def finalize(self) -> None:
        sizes = self._sizes.array()
        offsets = np.zeros(len(sizes), dtype="<i8")
        if len(sizes) > 1:
            np.cumsum(sizes[:-1].astype(np.int64) * self.dtype.itemsize, out=offsets[1:])
        try:
            with atomic_path(data_path(self.prefix)) as tmp:
                if self._handle is not None:
                    self._handle.close()
                    os.replace(self._tmp, tmp)
            with atomic_path(index_path(self.prefix)) as tmp:
                with open(tmp, "wb") as handle:
                    handle.write(_HEADER.pack(MAGIC, VERSION, dtype_code(self.dtype), len(sizes)))
                    handle.write(sizes.tobytes())
                    handle.write(offsets.tobytes())
        finally:
            self.abort()
