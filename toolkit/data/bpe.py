"""Byte-pair encoding with subword-nmt: learning merge codes, and segmenting words.

`learn_codes` produces exactly the codes `subword-nmt learn-bpe` writes for the same
word counts (tests/unit/test_bpe.py checks that), but picks each merge faster: the
reference scans all pair statistics with a Python key function for every merge, which
is most of its time; here the largest count is found first (in C) and only the pairs
with that count are compared. The rest reuses subword-nmt's own helpers.
"""

from __future__ import annotations

import io
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from itertools import compress, repeat
from operator import eq

from subword_nmt import learn_bpe as _learn
from subword_nmt.apply_bpe import BPE, encode

from toolkit.errors import UserError

SEPARATOR = "@@"
CODES_HEADER = "#version: 0.2\n"


def _argmax_pair(stats: dict) -> tuple[str, str]:
    """max(stats, key=lambda p: (stats[p], p)), with every scan done in C.

    The largest count first; then the largest pair among those having it.
    """
    counts = list(stats.values())
    best = max(counts)
    return max(compress(stats, map(eq, counts, repeat(best))))


def learn_codes(
    word_counts: Mapping[str, int],
    merges: int,
    min_frequency: int = 2,
    progress: Callable[[int], None] | None = None,
) -> str:
    """Learn up to `merges` merge operations from word counts; returns the codes text.

    `progress(n)` is called after every n merges learned (n = 100).
    """
    out = [CODES_HEADER]
    vocab = {tuple(w[:-1]) + (w[-1] + "</w>",): c for w, c in word_counts.items() if w}
    sorted_vocab = sorted(vocab.items(), key=lambda x: x[1], reverse=True)
    stats, indices = _learn.get_pair_statistics(sorted_vocab)
    big_stats = stats.copy()  # int values: a shallow copy equals subword-nmt's deepcopy
    if not stats:
        return CODES_HEADER
    threshold = max(stats.values()) / 10
    most_frequent = None
    for i in range(merges):
        if stats:
            most_frequent = _argmax_pair(stats)
        # Pruning may have hidden the best pair: go back to the full statistics.
        if not stats or (i and stats[most_frequent] < threshold):
            _learn.prune_stats(stats, big_stats, threshold)
            stats = big_stats.copy()
            most_frequent = _argmax_pair(stats)
            threshold = stats[most_frequent] * i / (i + 10000.0)
            _learn.prune_stats(stats, big_stats, threshold)
        if stats[most_frequent] < min_frequency:
            break
        out.append(f"{most_frequent[0]} {most_frequent[1]}\n")
        changes = _learn.replace_pair(most_frequent, sorted_vocab, indices)
        _learn.update_pair_statistics(most_frequent, changes, stats, indices)
        stats[most_frequent] = 0
        if not i % 100:
            _learn.prune_stats(stats, big_stats, threshold)
            if progress and i:
                progress(100)
    return "".join(out)


def validate_codes(text: str, source: str = "BPE codes") -> None:
    """Raise a UserError unless `text` is a subword-nmt codes file."""
    lines = text.rstrip("\n").split("\n")
    start = 1 if lines and lines[0].startswith("#version:") else 0
    if start and lines[0].split()[-1] not in ("0.1", "0.2"):
        raise UserError(f"{source}: unsupported codes version {lines[0].split()[-1]!r}")
    for number, line in enumerate(lines[start:], start=start + 1):
        if len(line.strip("\r\n ").split(" ")) != 2:
            raise UserError(f"{source}, line {number}: expected two subword units, got {line[:60]!r}")


class Segmenter:
    """Applies BPE codes to single words, remembering each word's segmentation.

    `protected` words (reserved symbols such as <BT>) are never split, with or without dropout.
    """

    def __init__(self, codes: str, separator: str = SEPARATOR, protected: Iterable[str] = ()) -> None:
        validate_codes(codes)
        self.codes = codes
        self.separator = separator
        self.protected = frozenset(protected)
        # Codes with no merge at all (a corpus too small or too odd to learn one) segment nothing;
        # subword-nmt itself would stop the process (sys.exit) on such a file.
        merges = [line for line in codes.rstrip("\n").split("\n") if line and not line.startswith("#version:")]
        self._bpe = BPE(io.StringIO(codes), separator=separator) if merges else None
        self._cache: dict[str, tuple[str, ...]] = {w: (w,) for w in self.protected}

    def segment_word(self, word: str) -> tuple[str, ...]:
        """'lower' -> ('low@@', 'er'); a word never seen before is encoded once."""
        pieces = self._cache.get(word)
        if pieces is None and self._bpe is None:
            pieces = self._cache[word] = (word,)
        if pieces is None:
            b = self._bpe
            parts = encode(word, b.bpe_codes, b.bpe_codes_reverse, None, b.separator, b.version, b.cache)
            joint = self.separator
            pieces = tuple(p + joint for p in parts[:-1]) + (parts[-1],)
            self._cache[word] = pieces
        return pieces

    def segment_words(self, words: Iterable[str]) -> list[tuple[str, ...]]:
        return [self.segment_word(w) for w in words]

    def segment_line(self, line: str) -> str:
        return " ".join(p for w in line.split() for p in self.segment_word(w))

    def sample_lines(self, lines: Iterable[str], dropout: float, seed: int) -> list[str]:
        """BPE-dropout (Provilkov et al., 2020): each merge is skipped with probability `dropout`.

        A regularizer for training text only: the same word comes out in different, finer
        segmentations, while test text keeps the deterministic one. The result depends on
        `seed` and the lines alone, never on what was segmented before.
        """
        if self._bpe is None:
            return [" ".join(line.split()) for line in lines]
        b, joint, protected = self._bpe, self.separator, self.protected
        scratch: dict = {}  # encode() stores every result; with dropout none is ever read back
        split = partial(encode, bpe_codes=b.bpe_codes, bpe_codes_reverse=b.bpe_codes_reverse, vocab=None)
        out = []
        outer = random.getstate()  # subword-nmt draws from the module-level generator
        random.seed(seed)
        try:
            for line in lines:
                pieces = []
                for word in line.split():
                    if word in protected:
                        pieces.append(word)
                        continue
                    parts = split(word, separator=joint, version=b.version, cache=scratch, dropout=dropout)
                    pieces.extend(p + joint for p in parts[:-1])
                    pieces.append(parts[-1])
                out.append(" ".join(pieces))
                scratch.clear()
        finally:
            random.setstate(outer)
        return out


def count_words(lines: Iterable[str], counts: Counter | None = None) -> Counter:
    """Whitespace-token counts, in order of first occurrence."""
    counts = Counter() if counts is None else counts
    for line in lines:
        counts.update(line.split())
    return counts
