"""Work spread over processes in contiguous chunks, results in input order, plus stage timing.

Every parallel step maps a pure function over contiguous chunks and concatenates the
results in order, so the output never depends on the number of workers. Chunks can come
from a stream (`map_ordered`): only a few are in flight at a time.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
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
    return list(map_ordered(pool, fn, tasks, on_done=on_done))


def map_ordered(
    pool, fn: Callable, tasks: Iterable, on_done: Callable[[int], None] | None = None, window: int = 8
) -> Iterator:
    """fn(t) for each task, lazily and in order, on the pool if any; on_done(len(result)) after each.

    At most `window` tasks (a few per worker) are read from `tasks` ahead of the result being
    yielded, so a stream of chunks never piles up in memory (Pool.imap reads all of it ahead).
    """
    if pool is None:
        results: Iterable = map(fn, tasks)
    else:
        results = _windowed(pool, fn, tasks, window)
    for result in results:
        if on_done:
            on_done(len(result))
        yield result


def _windowed(pool, fn: Callable, tasks: Iterable, window: int) -> Iterator:
    pending: deque = deque()
    for task in tasks:
        pending.append(pool.apply_async(fn, (task,)))
        if len(pending) >= window:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()


def _tokenize_protected(tokenizer: Tokenizer, line: str, protected: frozenset[str]) -> str:
    """Tokenize `line`, keeping whitespace-separated `protected` symbols (<2en>) as tokens of their own."""
    words = line.split()
    if protected.isdisjoint(words):
        return tokenizer.tokenize(line)
    out: list[str] = []
    start = 0
    for i, word in enumerate(words + [None]):
        if word is None or word in protected:
            if i > start:
                out.append(tokenizer.tokenize(" ".join(words[start:i])))
            if word is not None:
                out.append(word)
            start = i + 1
    return " ".join(t for t in out if t)


# Tokenized lines remembered per process across chunks (corpora repeat lines: captions, web crawls),
# bounded so memory stays flat however long the corpus: the memory is forgotten when it fills.
TOKENIZED_CACHE_LINES = 50_000
_TOKENIZERS: dict[str, tuple[Tokenizer, dict[str, str]]] = {}


def tokenize_chunk(task: tuple[TokenizerConfig, frozenset[str], Sequence[str]]) -> list[str]:
    """Tokenized lines; a line seen recently in this process is tokenized once."""
    config, protected, lines = task
    key = repr((config, sorted(protected)))
    if key not in _TOKENIZERS:
        _TOKENIZERS[key] = (Tokenizer(config), {})
    tokenizer, cache = _TOKENIZERS[key]
    out = []
    for line in lines:
        tokens = cache.get(line)
        if tokens is None:
            if len(cache) >= TOKENIZED_CACHE_LINES:
                cache.clear()
            tokens = cache[line] = (
                _tokenize_protected(tokenizer, line, protected) if protected else tokenizer.tokenize(line)
            )
        out.append(tokens)
    return out


_SEGMENTERS: dict[tuple[str, frozenset[str]], Segmenter] = {}


def _segmenter(codes: str, protected: frozenset[str]) -> Segmenter:
    """One Segmenter per codes text and process, so its word cache is reused across chunks."""
    segmenter = _SEGMENTERS.get((codes, protected))
    if segmenter is None:
        segmenter = _SEGMENTERS[codes, protected] = Segmenter(codes, protected=protected)
    return segmenter


def segment_chunk(task: tuple[str, frozenset[str], Sequence[str]]) -> list[tuple[str, ...]]:
    codes, protected, words = task
    return _segmenter(codes, protected).segment_words(words)


def sample_chunk(task: tuple[str, frozenset[str], float, int, Sequence[str]]) -> list[str]:
    """BPE-dropout segmentations of tokenized lines, as space-joined pieces."""
    codes, protected, dropout, seed, lines = task
    return _segmenter(codes, protected).sample_lines(lines, dropout, seed)


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
