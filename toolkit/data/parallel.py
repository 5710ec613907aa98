"""Work spread over processes in contiguous chunks, results in input order, plus stage timing.

Every parallel step maps a pure function over contiguous chunks and concatenates the
results in order, so the output never depends on the number of workers.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from toolkit.data.bpe import Segmenter
from toolkit.data.tokenize import Tokenizer, TokenizerConfig


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def chunked(items: Sequence, workers: int, min_chunk: int = 500) -> list[Sequence]:
    """Contiguous chunks: a few per worker (for load balance and progress), never tiny."""
    size = max(min_chunk, -(-len(items) // (4 * workers)))
    return [items[i : i + size] for i in range(0, len(items), size)]


@contextmanager
def worker_pool(workers: int) -> Iterator[object | None]:
    """A process pool, or None (work in this process) when workers == 1."""
    if workers <= 1:
        yield None
        return
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    with multiprocessing.get_context(method).Pool(workers) as pool:
        yield pool


def map_chunks(pool, fn: Callable, tasks: list, on_done: Callable[[int], None] | None = None) -> list:
    """[fn(t) for t in tasks] in order, on the pool if any; on_done(len(result)) after each."""
    results = []
    mapped = map(fn, tasks) if pool is None else pool.imap(fn, tasks)
    for result in mapped:
        results.append(result)
        if on_done:
            on_done(len(result))
    return results


def tokenize_chunk(task: tuple[TokenizerConfig, Sequence[str]]) -> list[str]:
    config, lines = task
    tokenizer = Tokenizer(config)
    return [tokenizer.tokenize(line) for line in lines]


_SEGMENTERS: dict[str, Segmenter] = {}


def _segmenter(codes: str) -> Segmenter:
    """One Segmenter per codes text and process, so its word cache is reused across chunks."""
    segmenter = _SEGMENTERS.get(codes)
    if segmenter is None:
        segmenter = _SEGMENTERS[codes] = Segmenter(codes)
    return segmenter


def segment_chunk(task: tuple[str, Sequence[str]]) -> list[tuple[str, ...]]:
    codes, words = task
    return _segmenter(codes).segment_words(words)


def sample_chunk(task: tuple[str, float, int, Sequence[str]]) -> list[str]:
    """BPE-dropout segmentations of tokenized lines, as space-joined pieces."""
    codes, dropout, seed, lines = task
    return _segmenter(codes).sample_lines(lines, dropout, seed)


class Stages:
    """Wall time per stage, and a rich progress bar on stderr unless quiet."""

    def __init__(self, quiet: bool) -> None:
        self.timings: dict[str, float] = {}
        self._progress = None
        if not quiet:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description:<22}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )

    def __enter__(self) -> Stages:
        if self._progress:
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress:
            self._progress.stop()

    @contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        """Time a stage; yields advance(n) for its progress bar."""
        start = time.perf_counter()
        task = self._progress.add_task(name, total=total) if self._progress else None

        def advance(n: int = 1) -> None:
            if task is not None:
                self._progress.advance(task, n)

        yield advance
        if task is not None:
            self._progress.update(task, completed=total if total is not None else 1, total=total or 1)
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start
