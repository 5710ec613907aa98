"""Resident memory of a long training run: give freed heap memory back to the operating system.

glibc keeps memory that PyTorch's CPU allocator frees in its heaps (one per thread) for reuse; with
batch shapes that vary from update to update the heaps fragment, and a long run's resident size
creeps above what it needs. `malloc_trim` returns the free pages; it costs a few milliseconds, so the
loop calls it after the steps that allocate most and then free it (validation, checkpoint writes).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


def release_free_memory() -> bool:
    """Return freed heap memory to the OS where the C library can (glibc); True if it did."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
