"""A fairseq-compatible vocabulary: symbols, their training counts, and id <-> text.

The four special symbols come first and are never written to `dict.LANG.txt`:
<s>=0, <pad>=1, </s>=2, <unk>=3. The file holds one "symbol count" line per other
symbol, in id order: reserved extra symbols (nmt preprocess --extra-symbols) first, then
the rest most frequent first, so fairseq and nmt can read each other's dictionaries, and a
dictionary read back (or rebuilt from a checkpoint's state) has every symbol at its old id.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from toolkit.data.characters import CHARACTERS, join_characters
from toolkit.errors import UserError
from toolkit.fileio import atomic_open

BOS, PAD, EOS, UNK = "<s>", "<pad>", "</s>", "<unk>"
SPECIALS = (BOS, PAD, EOS, UNK)


class Dictionary:
    """Symbols and counts; index 0..3 are <s>, <pad>, </s>, <unk>."""

    bos_index, pad_index, eos_index, unk_index = 0, 1, 2, 3
    nspecial = len(SPECIALS)

    def __init__(self) -> None:
        self.symbols: list[str] = list(SPECIALS)
        self.counts: list[int] = [1] * len(SPECIALS)  # fairseq's convention for the specials
        self.indices: dict[str, int] = {s: i for i, s in enumerate(SPECIALS)}

    # fairseq-style accessors
    def bos(self) -> int:
        return self.bos_index

    def pad(self) -> int:
        return self.pad_index

    def eos(self) -> int:
        return self.eos_index

    def unk(self) -> int:
        return self.unk_index

    def __len__(self) -> int:
        return len(self.symbols)

    def __getitem__(self, index: int) -> str:
        if 0 <= index < len(self.symbols):
            return self.symbols[index]
        return UNK

    def __contains__(self, symbol: str) -> bool:
        return symbol in self.indices

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Dictionary):
            return NotImplemented
        return self.symbols == other.symbols and self.counts == other.counts

    def __repr__(self) -> str:
        return f"Dictionary({len(self)} symbols)"

    def index(self, symbol: str) -> int:
        return self.indices.get(symbol, self.unk_index)

    def add_symbol(self, symbol: str, count: int = 1) -> int:
        if symbol in self.indices:
            index = self.indices[symbol]
            self.counts[index] += count
            return index
        self.indices[symbol] = len(self.symbols)
        self.symbols.append(symbol)
        self.counts.append(count)
        return len(self.symbols) - 1

    def encode_line(self, line: str, append_eos: bool = True) -> np.ndarray:
        """Whitespace-split `line` into ids (int64), unknown symbols as <unk>, then </s>."""
        get, unk = self.indices.get, self.unk_index
        ids = [get(token, unk) for token in line.split()]
        if append_eos:
            ids.append(self.eos_index)
        return np.asarray(ids, dtype=np.int64)

    def string(self, ids: Iterable[int], bpe_symbol: str | None = None, keep_special: bool = False) -> str:
        """Ids back to text; drops <s>, <pad>, </s> unless keep_special; optionally undoes BPE."""
        skip = () if keep_special else (self.bos_index, self.pad_index, self.eos_index)
        text = " ".join(self[int(i)] for i in ids if int(i) not in skip)
        if bpe_symbol:
            text = remove_bpe(text, bpe_symbol)
        return text

    # persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the non-special symbols as "symbol count" lines, atomically."""
        with atomic_open(path) as handle:
            handle.write(self.to_text())

    def to_text(self) -> str:
        return "".join(
            f"{s} {c}\n" for s, c in zip(self.symbols[self.nspecial :], self.counts[self.nspecial :], strict=True)
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> Dictionary:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            raise UserError(f"dictionary not found: {path}") from None
        except (OSError, UnicodeDecodeError) as error:
            raise UserError(f"{path}: unreadable dictionary ({error})") from None
        return cls.from_text(text, source=str(path))

    @classmethod
    def from_text(cls, text: str, source: str = "<dictionary>") -> Dictionary:
        d = cls()
        for number, line in enumerate(text.splitlines(), start=1):
            fields = line.rstrip().rsplit(" ", 1)
            if not line.strip():
                continue
            if len(fields) != 2 or not fields[1].lstrip("-").isdigit():
                raise UserError(f"{source}, line {number}: expected 'symbol count', got {line[:60]!r}")
            symbol, count = fields[0], int(fields[1])
            if symbol.endswith(" #fairseq:overwrite"):
                symbol = symbol[: -len(" #fairseq:overwrite")]
            elif symbol in d.indices:
                raise UserError(f"{source}, line {number}: duplicate symbol {symbol!r}")
            d.add_symbol(symbol, count)
        return d

    def to_state(self) -> dict:
        """Plain lists only: safe inside a checkpoint loaded with weights_only=True."""
        return {"symbols": list(self.symbols), "counts": [int(c) for c in self.counts]}

    @classmethod
    def from_state(cls, state: dict) -> Dictionary:
        symbols, counts = list(state["symbols"]), [int(c) for c in state["counts"]]
        if symbols[: cls.nspecial] != list(SPECIALS) or len(symbols) != len(counts):
            raise ValueError("dictionary state does not start with <s> <pad> </s> <unk>")
        d = cls()
        d.symbols, d.counts = symbols, counts
        d.indices = {s: i for i, s in enumerate(symbols)}
        return d


def build_dictionary(
    counts: Counter,
    threshold: int = 0,
    nwords: int = -1,
    padding_factor: int = 8,
    extra_symbols: Sequence[str] = (),
) -> Dictionary:
    """fairseq's `finalize`: most frequent first (ties alphabetical), then pad the size.

    `extra_symbols` (reserved symbols such as <BT> or <2en>) come right after the four specials,
    in the order given, whatever their counts: ids 4, 5, ... `threshold` drops symbols seen
    fewer times; `nwords` (> 0) caps the size including the specials and extra symbols; the
    size is then padded to a multiple of `padding_factor` with `madeupwordNNNN` symbols of
    count 0, which keeps embedding matrices aligned.
    """
    d = Dictionary()
    for symbol in extra_symbols:
        d.add_symbol(symbol, counts.get(symbol, 0))
    budget = None if nwords <= 0 else max(nwords - len(d), 0)
    ordered = sorted(((s, c) for s, c in counts.items() if s not in d.indices), key=lambda sc: (-sc[1], sc[0]))
    for symbol, count in ordered[:budget]:
        if count < threshold:
            break
        d.add_symbol(symbol, count)
    pad_to_multiple(d, padding_factor)
    return d


def check_extra_symbols(symbols: Sequence[str], flag: str = "--extra-symbols") -> None:
    """One UserError line for a reserved symbol that could not work as one."""
    for i, symbol in enumerate(symbols):
        if symbol.split() != [symbol]:
            raise UserError(f"{flag}: {symbol!r} contains whitespace (a symbol is one token)")
        if symbol in SPECIALS:
            raise UserError(f"{flag}: {symbol} is one of the special symbols {' '.join(SPECIALS)}, always present")
        if symbol in symbols[:i]:
            raise UserError(f"{flag}: {symbol} is given twice")


def pad_to_multiple(d: Dictionary, padding_factor: int) -> None:
    i = 0
    while padding_factor > 1 and len(d) % padding_factor:
        d.add_symbol(f"madeupword{i:04d}", 0)
        i += 1


def remove_bpe(text: str, bpe_symbol: str = "@@ ") -> str:
    """Undo subword joints: 'new@@ york' -> 'newyork' (a trailing joint is dropped too).

    `bpe_symbol` "characters" names the character segmentation: 'n e w ▁ y o r k' -> 'new york'.
    """
    if bpe_symbol == CHARACTERS:
        return join_characters(text)
    return (text + " ").replace(bpe_symbol, "").rstrip()
