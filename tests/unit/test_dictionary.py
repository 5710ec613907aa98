import re
from collections import Counter

import numpy as np
import pytest

from toolkit.data.dictionary import Dictionary, build_dictionary, remove_bpe
from toolkit.errors import UserError


def test_special_symbols_and_accessors():
    d = Dictionary()
    assert (d.bos(), d.pad(), d.eos(), d.unk()) == (0, 1, 2, 3)
    assert (d.bos_index, d.pad_index, d.eos_index, d.unk_index) == (0, 1, 2, 3)
    assert d.symbols[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert d.index("never-seen") == d.unk_index


def test_most_frequent_first_ties_alphabetical_and_padded():
    d = build_dictionary(Counter({"b": 5, "a": 5, "c": 9, "d": 1}))
    assert d.symbols[4:8] == ["c", "a", "b", "d"]
    assert len(d) % 8 == 0
    assert d.symbols[8:] == []  # 4 specials + 4 symbols = 8 already
    d = build_dictionary(Counter({"x": 3}))
    assert len(d) == 8 and d.symbols[5:] == ["madeupword0000", "madeupword0001", "madeupword0002"]
    assert d.counts[5:] == [0, 0, 0]


def test_threshold_and_nwords():
    counts = Counter({f"w{i}": i for i in range(1, 21)})
    d = build_dictionary(counts, threshold=10)
    kept = [s for s in d.symbols[4:] if not s.startswith("madeupword")]
    assert sorted(kept) == sorted(f"w{i}" for i in range(10, 21))
    d = build_dictionary(counts, nwords=10)
    kept = [s for s in d.symbols[4:] if not s.startswith("madeupword")]
    assert kept == [f"w{i}" for i in range(20, 14, -1)]  # 10 including the 4 specials
    assert len(d) == 16
    assert len(build_dictionary(counts, padding_factor=1)) == 24


def test_encode_line_and_string():
    d = build_dictionary(Counter("new@@ york is big".split()))
    ids = d.encode_line("new@@ york is huge")
    assert ids.dtype == np.int64 and ids[-1] == d.eos_index and ids[3] == d.unk_index
    assert d.string(ids) == "new@@ york is <unk>"
    assert d.string(ids, bpe_symbol="@@ ") == "newyork is <unk>"
    assert d.string([d.bos_index, *ids, d.pad_index], keep_special=True).startswith("<s> new@@")
    assert d.encode_line("", append_eos=False).size == 0
    assert remove_bpe("a@@ b c@@") == "ab c"


def test_save_load_roundtrip_without_specials(tmp_path):
    d = build_dictionary(Counter({"Haus": 4, "Maus": 2, "ü": 7}))
    d.save(tmp_path / "dict.de.txt")
    text = (tmp_path / "dict.de.txt").read_text(encoding="utf-8")
    assert text.splitlines()[:3] == ["ü 7", "Haus 4", "Maus 2"]
    assert "<pad>" not in text
    assert Dictionary.load(tmp_path / "dict.de.txt") == d


def test_state_roundtrip_is_plain_data():
    d = build_dictionary(Counter({"a": 3, "b": 1}))
    state = d.to_state()
    assert set(state) == {"symbols", "counts"} and all(type(c) is int for c in state["counts"])
    assert Dictionary.from_state(state) == d
    assert Dictionary.from_state(state).index("b") == d.index("b")


def test_bad_dictionary_file(tmp_path):
    (tmp_path / "d.txt").write_text("hello\n", encoding="utf-8")
    with pytest.raises(UserError, match="line 1"):
        Dictionary.load(tmp_path / "d.txt")
    with pytest.raises(UserError, match="not found"):
        Dictionary.load(tmp_path / "missing.txt")


def test_extra_symbols_take_ids_4_on_and_keep_them_through_file_and_state(tmp_path):
    from toolkit.data.dictionary import check_extra_symbols

    extra = ["<BT>", "<2en>", "<mask>"]
    d = build_dictionary(Counter({"a": 9, "<mask>": 3, "b": 1}), nwords=8, extra_symbols=extra)
    assert d.symbols == ["<s>", "<pad>", "</s>", "<unk>", "<BT>", "<2en>", "<mask>", "a"]  # the cap counts them
    assert d.counts[4:] == [0, 0, 3, 9]
    padded = build_dictionary(Counter({"a": 1, "b": 2}), extra_symbols=extra).symbols
    assert len(padded) == 16 and padded[4:10] == [*extra, "b", "a", "madeupword0000"]
    d.save(tmp_path / "dict.txt")
    assert (tmp_path / "dict.txt").read_text().splitlines()[:3] == ["<BT> 0", "<2en> 0", "<mask> 3"]  # fairseq format
    for again in (Dictionary.load(tmp_path / "dict.txt"), Dictionary.from_state(d.to_state())):
        assert again == d and [again.index(s) for s in extra] == [4, 5, 6]
    for bad, message in (
        (["<BT>", "<a b>"], "'<a b>' contains whitespace"),
        (["<BT>", " <2en>"], "' <2en>' contains whitespace"),
        (["<BT>", "<BT>"], "<BT> is given twice"),
        (["<pad>"], "<pad> is one of the special symbols"),
    ):
        with pytest.raises(UserError, match=re.escape(f"--extra-symbols: {message}")):
            check_extra_symbols(bad)
    check_extra_symbols(extra)  # no error
