"""Character segmentation (--bpe characters): exact units, an exact round trip for any text, and preprocess."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import make_corpus
from tests.helpers.preprocess_bytes import destination_hashes
from tests.helpers.preprocess_config import preprocess_config
from toolkit.data.characters import (
    BOUNDARY,
    CHARACTERS,
    is_escape,
    join_characters,
    segment_line,
    split_characters,
    split_word,
)
from toolkit.data.dictionary import Dictionary, remove_bpe
from toolkit.data.indexed import MMapIndexedDataset
from toolkit.data.parallel import tokenize_chunk
from toolkit.data.preprocess import preprocess
from toolkit.data.text_processor import TextProcessor, TextProcessorConfig, load_text_processors
from toolkit.data.tokenize import TokenizerConfig
from toolkit.errors import UserError
from toolkit.search.config import bpe_marker
from toolkit.search.output import Postprocessor, sentence_lines, side_marker

# Text made of what is awkward here: spaces, the boundary mark itself, other whitespace, an
# escape's spelling, combining and wide characters, line separators.
AWKWARD = st.lists(
    st.sampled_from(
        [" ", "  ", BOUNDARY, "\t", "\n", "\r", "\xa0", "\u2028", "\u3000", "<U+2581>", "<", "a", "é", "\u0301", "日"]
    ),
    max_size=30,
).map("".join)
ANY_TEXT = st.one_of(st.text(max_size=60), AWKWARD)


# --- the units ------------------------------------------------------------------------------


def test_a_sentence_segments_into_these_units():
    processor = TextProcessor(TextProcessorConfig("en", bpe=CHARACTERS))
    line = "A dog's ▁ toy (blue)!"
    assert processor.tokenize(line) == "A dog 's ▁ toy ( blue ) !"
    units = "A ▁ d o g ▁ ' s ▁ <U+2581> ▁ t o y ▁ ( ▁ b l u e ▁ ) ▁ !"
    assert processor.encode(line) == units
    assert processor.remove_bpe(units) == "A dog 's ▁ toy ( blue ) !"
    assert processor.decode(units) == line
    assert split_characters(" a\tb  ") == "▁ a <U+0009> b ▁ ▁"
    assert split_characters("<U+2581>") == "< U + 2 5 8 1 >"  # the spelling of an escape is no escape
    assert split_word("<BT>", frozenset({"<BT>"})) == ("<BT>",) and split_word("<BT>") == ("<", "B", "T", ">")


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_any_text_round_trips_exactly(text):
    units = split_characters(text)
    assert join_characters(units) == text
    pieces = units.split()
    # one unit per character; a unit holds no whitespace; only ▁ and the escapes are not the character itself
    assert len(pieces) == len(text) and units == " ".join(pieces)
    for char, unit in zip(text, pieces, strict=True):
        assert unit == char or (char == " " and unit == BOUNDARY) or (is_escape(unit) and len(unit) >= 8)


@settings(max_examples=200, deadline=None)
@given(ANY_TEXT)
def test_a_tokenized_line_round_trips_through_the_text_processor(text):
    """What preprocess and translate do: words (split on whitespace) joined by ▁, and back."""
    tokenized = " ".join(text.split())
    assert segment_line(text) == split_characters(tokenized)
    processor = TextProcessor(TextProcessorConfig("en", tokenize="none", bpe=CHARACTERS))
    assert processor.remove_bpe(processor.apply_bpe(text)) == tokenized
    assert remove_bpe(processor.apply_bpe(text), CHARACTERS) == tokenized


def test_empty_and_blank_lines_have_no_units():
    processor = TextProcessor(TextProcessorConfig("en", bpe=CHARACTERS))
    assert processor.encode("") == processor.encode("   ") == "" and processor.decode("") == ""
    assert split_characters("") == "" and join_characters("") == ""


def test_units_that_are_no_escape_read_back_as_themselves():
    assert join_characters("a <unk> ▁ <BT> ▁ madeupword0000") == "a<unk> <BT> madeupword0000"
    # only what escape() writes is an escape: not lower case, not a needless one, not past U+10FFFF
    assert join_characters("<U+2581> <u+2581> <U+0041> <U+110000> <U+02581>") == "▁<u+2581><U+0041><U+110000><U+02581>"


# --- states, markers, output lines ----------------------------------------------------------


def test_the_state_records_characters_and_older_states_stay_as_they_were():
    subword = TextProcessor(TextProcessorConfig("en"))
    assert "bpe" not in subword.to_state()  # checkpoints and preprocess.json written before are unchanged
    chars = TextProcessor(TextProcessorConfig("en", bpe=CHARACTERS))
    state = chars.to_state()
    assert state["bpe"] == CHARACTERS and TextProcessor.from_state(state) == chars
    assert repr(chars) == "TextProcessor(en, moses, characters)"
    with pytest.raises(UserError, match="takes no BPE codes"):
        TextProcessorConfig("en", bpe=CHARACTERS, bpe_codes="#version: 0.2\na b\n")
    with pytest.raises(UserError, match="unknown segmentation"):
        TextProcessorConfig("en", bpe="sentencepiece")


def test_remove_bpe_names_characters_and_the_default_follows_the_side():
    assert bpe_marker("characters") == CHARACTERS
    with pytest.raises(UserError, match="subword-nmt or characters"):
        bpe_marker("sentencepiece")
    chars = TextProcessor(TextProcessorConfig("en", bpe=CHARACTERS))
    subword = TextProcessor(TextProcessorConfig("en"))
    assert side_marker("@@ ", chars) == CHARACTERS and side_marker("@@ ", subword) == "@@ "
    assert side_marker(None, chars) is None and side_marker("@@ ", None) == "@@ "


def _dictionary(units: str) -> Dictionary:
    d = Dictionary()
    for unit in units.split():
        d.add_symbol(unit)
    return d


def test_generate_lines_show_the_words_with_the_default_remove_bpe():
    processor = TextProcessor(TextProcessorConfig("en", bpe=CHARACTERS))
    units = processor.encode("The dog's toy.")
    d = _dictionary(units)
    ids = torch.tensor([d.index(u) for u in units.split()] + [d.eos_index])
    post = Postprocessor(d, d, bpe_marker("@@ "), processor, processor)
    hypo = type("Hypo", (), {"tokens": ids, "score": -1.0, "positional_scores": torch.zeros(len(ids)),
                             "alignment": None})()  # fmt: skip
    lines, best, ref = sentence_lines(0, ids, ids, [hypo], post)
    assert lines[:4] == [
        "S-0\tThe dog 's toy .",
        "T-0\tThe dog's toy.",
        "H-0\t-1.000000\tThe dog 's toy .",
        "D-0\t-1.000000\tThe dog's toy.",
    ]
    assert best == ref == "The dog's toy."
    assert post.tokenized(ids) == "The dog 's toy ."
    kept = Postprocessor(d, d, bpe_marker("none"), processor, processor)
    assert kept.target(ids) == units and kept.detokenize(ids) == "The dog's toy."
    assert kept.tokenized(ids) == "The dog 's toy ."  # --output-format tokenized undoes it whatever --remove-bpe says


# --- preprocess -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    root = make_corpus(tmp_path_factory.mktemp("chars") / "raw", {"train": 60, "valid": 10, "test": 10}, seed=3)
    for lang in ("de", "en"):  # an empty line, a literal ▁ and a reserved symbol
        path = root / f"train.{lang}"
        lines = path.read_text(encoding="utf-8").splitlines()
        lines[3:3] = ["", "ein ▁ Zeichen <BT> hier"]
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return root


def _run(raw: Path, dest: Path, **kwargs) -> dict:
    return preprocess(preprocess_config(raw, dest, bpe=CHARACTERS, extra_symbols=["<BT>"], **kwargs))


PROTECTED = frozenset({"<BT>"})


def _tokenized(raw: Path, split: str, lang: str) -> list[str]:
    """The Moses-tokenized lines, <BT> kept whole, as preprocess tokenizes them."""
    lines = (raw / f"{split}.{lang}").read_text(encoding="utf-8").splitlines()
    return tokenize_chunk((TokenizerConfig(lang), PROTECTED, lines))


def _unit_counts(lines: list[str]) -> Counter:
    return Counter(u for line in lines for u in segment_line(line, PROTECTED).split())


def test_preprocess_binarizes_the_characters_and_records_them(raw, tmp_path):
    dest = tmp_path / "bin"
    stats = _run(raw, dest)
    meta = json.loads((dest / "preprocess.json").read_text(encoding="utf-8"))
    assert stats["bpe"] == CHARACTERS and meta["bpe_codes_files"] == {}
    assert not list(dest.glob("bpecodes*"))
    assert {lang: p["bpe"] for lang, p in meta["text_processors"].items()} == {"de": CHARACTERS, "en": CHARACTERS}
    processors = load_text_processors(dest)
    for lang in ("de", "en"):
        d = Dictionary.load(dest / f"dict.{lang}.txt")
        tokenized = _tokenized(raw, "train", lang)
        # the dictionary counts every character of the training text and every space between words
        expected = _unit_counts(tokenized)
        assert {s: c for s, c in zip(d.symbols[4:], d.counts[4:], strict=True) if c} == dict(expected)
        assert d.symbols[4] == "<BT>" and expected[BOUNDARY] == sum(len(t.split()) - 1 for t in tokenized if t)
        dataset = MMapIndexedDataset(dest / f"train.de-en.{lang}")
        assert len(dataset) == len(tokenized)
        for i, line in enumerate(tokenized):  # the ids read back are the line, exactly
            assert d.string(dataset[i]) == segment_line(line, PROTECTED)
            assert processors[lang].remove_bpe(d.string(dataset[i])) == line
        assert d.string(dataset[4]).split() == "e i n ▁ <U+2581> ▁ Z e i c h e n ▁ <BT> ▁ h i e r".split()
        assert len(dataset[3]) == 1  # the empty line: </s> alone
        train = meta["splits"]["train"][lang]
        assert train["tokens"] == sum(expected.values())
        assert train["unk_tokens"] == 0


def test_one_and_two_workers_write_the_same_bytes(raw, tmp_path):
    _run(raw, tmp_path / "one")
    _run(raw, tmp_path / "two", workers=2)
    assert destination_hashes(tmp_path / "one", tmp_path) == destination_hashes(tmp_path / "two", tmp_path)


def test_joined_dictionary_and_size_caps(raw, tmp_path):
    _run(raw, tmp_path / "joined", joined_dictionary=True)
    de = Dictionary.load(tmp_path / "joined" / "dict.de.txt")
    assert de == Dictionary.load(tmp_path / "joined" / "dict.en.txt")
    counts = _unit_counts(_tokenized(raw, "train", "de")) + _unit_counts(_tokenized(raw, "train", "en"))
    assert {s: c for s, c in zip(de.symbols[4:], de.counts[4:], strict=True) if c} == dict(counts)

    # --nwordssrc 16: <s> <pad> </s> <unk> <BT> and the 11 most frequent units (▁ first); the rest is <unk>
    stats = _run(raw, tmp_path / "capped", nwordssrc=16, thresholdtgt=3)
    src = Dictionary.load(tmp_path / "capped" / "dict.de.txt")
    de_counts = _unit_counts(_tokenized(raw, "train", "de"))
    kept = [s for s, _ in sorted(((s, c) for s, c in de_counts.items() if s != "<BT>"), key=lambda x: (-x[1], x[0]))]
    assert src.symbols[4:16] == ["<BT>", *kept[:11]] and kept[0] == BOUNDARY
    dropped = sum(c for s, c in de_counts.items() if s in kept[11:])
    assert stats["splits"]["train"]["de"]["unk_tokens"] == dropped > 0
    # --thresholdtgt 3: units seen fewer than 3 times are not in the target dictionary
    tgt = Dictionary.load(tmp_path / "capped" / "dict.en.txt")
    assert all(c >= 3 for s, c in zip(tgt.symbols[5:], tgt.counts[5:], strict=True) if not s.startswith("madeup"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"bpe_codes": "codes"}, "--bpe-codes contradicts --bpe characters"),
        ({"bpe_dropout": 0.1}, r"--bpe-dropout needs BPE \(subword-nmt\); drop --bpe characters"),
        ({"bpe_separate": True}, "--bpe characters learns none"),
        ({"extra_symbols": [BOUNDARY]}, "is a unit of --bpe characters"),
        ({"extra_symbols": ["<U+2581>"]}, "is a unit of --bpe characters"),
    ],
)
def test_contradictions_are_refused(raw, tmp_path, kwargs, message):
    config = preprocess_config(raw, tmp_path / "bin", bpe=CHARACTERS, **kwargs)
    with pytest.raises(UserError, match=message):
        preprocess(config)


# --- nmt translate's --bpe ------------------------------------------------------------------


def _translate_processors(stored: dict, **flags):
    from types import SimpleNamespace

    from toolkit.search.interactive import TranslateConfig, text_processors

    models = SimpleNamespace(text_processors=stored, langs=lambda: ("de", "en"))
    return text_processors(TranslateConfig(path="unused.pt", **flags), models)


def test_translate_takes_the_checkpoint_segmentation_or_the_one_asked(capsys):
    chars = {
        side: TextProcessor(TextProcessorConfig(lang, bpe=CHARACTERS)) for side, lang in (("src", "de"), ("tgt", "en"))
    }
    src, tgt = _translate_processors(chars)
    assert src.encode("ein Hund.") == "e i n ▁ H u n d ▁ ." and tgt is chars["tgt"]
    src, _ = _translate_processors(chars, bpe="none")  # the input is taken as units already
    assert src.encode("e i n ▁ H") == "e i n ▁ H" and "trained with characters" in capsys.readouterr().err
    plain = {
        side: TextProcessor(TextProcessorConfig(lang, tokenize="none")) for side, lang in (("src", "de"), ("tgt", "en"))
    }
    src, _ = _translate_processors(plain, bpe="characters")
    assert src.encode("ein  Hund") == "e i n ▁ H u n d" and "not trained on characters" in capsys.readouterr().err
    with pytest.raises(UserError, match="stores no BPE codes"):
        _translate_processors(chars, bpe="subword-nmt")
