"""Freed heap memory goes back to the operating system when the loop asks (glibc's malloc_trim)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from toolkit.train.memory import _malloc_trim, release_free_memory


def _rss_mib() -> int:
    return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) // 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists() or _malloc_trim() is None, reason="needs Linux glibc")
def test_freed_small_tensors_stay_resident_until_trimmed():
    release_free_memory()  # start from a trimmed heap, whatever ran before in this process
    before = _rss_mib()
    tensors = [torch.ones(4000) for _ in range(20000)]  # 16 kB each: heap memory, not separate mappings
    pinned = tensors[-1]  # the last one holds the top of the heap, so nothing is returned by itself
    del tensors
    held = _rss_mib() - before
    assert held > 200, f"expected the freed 300 MiB to stay resident, {held} MiB did"
    assert release_free_memory() is True
    assert _rss_mib() - before < held / 4
    assert float(pinned.sum()) == 4000.0
