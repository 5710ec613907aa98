"""`--tokenize auto --bpe auto`: text already segmented with subword-nmt markers is used as it is."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.conftest import make_corpus
from tests.helpers.preprocess_config import preprocess_config
from toolkit.data import preprocess as preprocess_module
from toolkit.data.dictionary import Dictionary, remove_bpe
from toolkit.data.indexed import MMapIndexedDataset
from toolkit.data.preprocess import carries_bpe_markers, preprocess
from toolkit.errors import UserError

NOTE = "nmt preprocess: note: "
SIZES = {"train": 200, "valid": 20, "test": 20}


_config = preprocess_config


def _split_words(line: str) -> str:
    """A stand-in for subword-nmt output: words longer than 4 characters split after the third."""
    return " ".join(w[:3] + "@@ " + w[3:] if len(w) > 4 else w for w in line.split())


@pytest.fixture
def segmented(tmp_path: Path) -> Path:
    """seg/{train,valid,test}.{de,en}: BPE'd text as fairseq-preprocess takes it (plain/ holds the words)."""
    plain = make_corpus(tmp_path / "plain", SIZES)
    root = tmp_path / "seg"
    root.mkdir()
    for path in plain.iterdir():
        lines = [_split_words(line) for line in path.read_text(encoding="utf-8").splitlines()]
        if path.name == "train.en":
            lines[0] = "the gre@@ at cat"
        (root / path.name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return root


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_segmented_text_is_binarized_as_it_is(segmented, tmp_path, capsys):
    dest = tmp_path / "bin"
    config = _config(segmented, dest)
    stats = preprocess(config)
    assert config.tokenize == "auto" and config.bpe == "auto"  # the caller's config is left alone
    assert (stats["tokenize"], stats["bpe"]) == ("none", "none")
    err = capsys.readouterr().err
    assert err.count(NOTE) == 1 and err.count("\n") == 1  # printed although quiet
    assert f"{segmented / 'train.de'} already carries BPE markers (@@ )" in err
    assert "--tokenize none --bpe none" in err

    meta = json.loads((dest / "preprocess.json").read_text())
    assert (meta["config"]["tokenize"], meta["config"]["bpe"]) == ("none", "none")
    assert meta["bpe_codes_files"] == {}
    for lang in ("de", "en"):
        assert meta["text_processors"][lang]["tokenize"] == "none"
        assert meta["text_processors"][lang]["bpe_codes_file"] is None
    assert not any(p.name.startswith("bpecodes") for p in dest.iterdir())

    dicts = {lang: Dictionary.load(dest / f"dict.{lang}.txt") for lang in ("de", "en")}
    assert "gre@@" in dicts["en"].symbols and "at" in dicts["en"].symbols
    assert stats["splits"]["train"]["en"]["unk_tokens"] == 0
    for split, n in SIZES.items():
        for lang, d in dicts.items():
            ds = MMapIndexedDataset(dest / f"{split}.de-en.{lang}")
            text = _lines(segmented / f"{split}.{lang}")
            words = _lines(tmp_path / "plain" / f"{split}.{lang}")
            assert len(ds) == len(text) == n
            decoded = [d.string(ds[i]) for i in range(n)]
            if split == "train":
                assert decoded == text  # every @@ piece is a symbol of its own
                # What `nmt generate --remove-bpe` does restores the words (line 0 of train.en was replaced).
                start = 1 if lang == "en" else 0
                assert [d.string(ds[i], bpe_symbol="@@ ") for i in range(start, n)] == words[start:]
            else:  # pieces never seen in training are <unk>, and only those
                unk = d[d.unk_index]
                assert decoded == [" ".join(p if p in d.symbols else unk for p in line.split()) for line in text]
                assert stats["splits"][split][lang]["unk_tokens"] == sum(line.split().count(unk) for line in decoded)
    assert remove_bpe(dicts["en"].string(MMapIndexedDataset(dest / "train.de-en.en")[0])) == "the great cat"


def test_rerun_finds_the_resolved_preprocessing(segmented, tmp_path, capsys):
    dest = tmp_path / "bin"
    assert preprocess(_config(segmented, dest))["already_done"] is False
    again = preprocess(_config(segmented, dest))
    assert again["already_done"] is True and (again["tokenize"], again["bpe"]) == ("none", "none")
    assert preprocess(_config(segmented, dest, tokenize="none", bpe="none"))["already_done"] is True
    assert capsys.readouterr().err.count(NOTE) == 2  # once per auto run; none is asked for in the third


def test_plain_text_auto_is_moses_and_subword_nmt(tiny_corpus, tmp_path, capsys):
    auto = preprocess(_config(tiny_corpus, tmp_path / "auto"))
    assert (auto["tokenize"], auto["bpe"]) == ("moses", "subword-nmt")
    explicit = preprocess(_config(tiny_corpus, tmp_path / "explicit", tokenize="moses", bpe="subword-nmt"))
    assert (explicit["tokenize"], explicit["bpe"]) == ("moses", "subword-nmt")
    assert capsys.readouterr().err == ""
    names = sorted(p.name for p in (tmp_path / "auto").iterdir())
    assert "bpecodes" in names and "train.de-en.de.bin" in names and "dict.en.txt" in names
    assert names == sorted(p.name for p in (tmp_path / "explicit").iterdir())
    for name in names:  # preprocess.json included: it records moses / subword-nmt either way
        assert (tmp_path / "auto" / name).read_bytes() == (tmp_path / "explicit" / name).read_bytes(), name
    meta = json.loads((tmp_path / "auto" / "preprocess.json").read_text())
    assert (meta["config"]["tokenize"], meta["config"]["bpe"]) == ("moses", "subword-nmt")
    # A destination made with the explicit values is the same preprocessing, under either spelling.
    assert preprocess(_config(tiny_corpus, tmp_path / "explicit"))["already_done"] is True
    assert preprocess(_config(tiny_corpus, tmp_path / "auto", bpe="subword_nmt"))["already_done"] is True


@pytest.mark.parametrize(
    ("kwargs", "flags", "fix"),
    [
        ({"bpe": "subword-nmt"}, "--bpe subword-nmt", "drop the flag or pass --tokenize none --bpe none"),
        ({"bpe": "subword_nmt"}, "--bpe subword-nmt", "drop the flag or pass --tokenize none --bpe none"),
        ({"tokenize": "moses"}, "--tokenize moses", "drop the flag or pass --tokenize none --bpe none"),
        ({"tokenize": "moses", "bpe": "none"}, "--tokenize moses", "drop the flag or pass --tokenize none --bpe none"),
        (
            {"tokenize": "moses", "bpe": "subword-nmt"},
            "--tokenize moses and --bpe subword-nmt",
            "drop these flags or pass --tokenize none --bpe none",
        ),
        ({"bpe_codes": "CODES"}, "--bpe-codes", "drop the flag"),
        ({"bpe_dropout": 0.1}, "--bpe-dropout", "drop the flag"),
    ],
)
def test_asking_to_segment_segmented_text_is_refused(segmented, tmp_path, capsys, kwargs, flags, fix):
    codes = tmp_path / "codes"
    codes.write_text("#version: 0.2\ng r\n", encoding="utf-8")
    kwargs = {k: str(codes) if v == "CODES" else v for k, v in kwargs.items()}
    with pytest.raises(UserError) as caught:
        preprocess(_config(segmented, tmp_path / "bin", **kwargs))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{segmented / 'train.de'} already carries BPE markers (@@ ); {flags} would")
    assert message.endswith(fix)
    if "bpe_codes" in kwargs or "bpe_dropout" in kwargs:
        assert "--tokenize none" not in message  # that alone would not help
    assert not (tmp_path / "bin").exists()
    assert NOTE not in capsys.readouterr().err


def test_one_explicit_none_settles_the_other(segmented, tmp_path):
    stats = preprocess(_config(segmented, tmp_path / "a", bpe="none"))
    assert (stats["tokenize"], stats["bpe"]) == ("none", "none")
    stats = preprocess(_config(segmented, tmp_path / "b", tokenize="none"))
    assert (stats["tokenize"], stats["bpe"]) == ("none", "none")
    for name in ("train.de-en.en.bin", "dict.de.txt", "dict.en.txt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_detection_threshold_is_one_percent_of_non_empty_lines():
    plain = ["the great cat"] * 1000
    assert not carries_bpe_markers(plain)
    assert not carries_bpe_markers(["the gre@@ at cat"] + plain[1:])  # 1 in 1000
    assert not carries_bpe_markers(["the gre@@ at cat"] * 9 + plain[9:])
    assert carries_bpe_markers(["the gre@@ at cat"] * 10 + plain[10:])  # 10 in 1000: 1%
    assert carries_bpe_markers(["the gre@@ at cat\n"] + ["\n", "   "] * 500)  # blank lines do not count
    assert not carries_bpe_markers(["the gre@@\n", "cat@@ \n", "e-mail a@@b.c\n"])  # no piece follows
    assert carries_bpe_markers(["the gre@@\tat cat"])
    assert not carries_bpe_markers([]) and not carries_bpe_markers(["", "\n"])


def test_one_marked_line_in_a_thousand_is_plain_text(tmp_path, capsys):
    raw = make_corpus(tmp_path / "raw", {"train": 1000})
    lines = _lines(raw / "train.en")
    lines[500] = "the gre@@ at cat"
    (raw / "train.en").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    stats = preprocess(_config(raw, tmp_path / "bin", validpref=[], testpref=[]))
    assert (stats["tokenize"], stats["bpe"]) == ("moses", "subword-nmt")
    assert (tmp_path / "bin" / "bpecodes").is_file() and capsys.readouterr().err == ""


def test_only_the_first_lines_are_sampled(tmp_path, monkeypatch):
    monkeypatch.setattr(preprocess_module, "MARKER_SAMPLE_LINES", 50)
    raw = make_corpus(tmp_path / "raw", {"train": 60})
    for lang in ("de", "en"):  # markers from line 51 on only
        lines = _lines(raw / f"train.{lang}")
        lines[50:] = [_split_words(line) + " gre@@ at" for line in lines[50:]]
        (raw / f"train.{lang}").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    stats = preprocess(_config(raw, tmp_path / "bin", validpref=[], testpref=[], bpe_merges=20))
    assert (stats["tokenize"], stats["bpe"]) == ("moses", "subword-nmt")


def test_gzipped_target_side_and_no_trainpref(segmented, tmp_path, capsys):
    # Only the English side carries markers here, gzipped: it is found and named.
    raw = make_corpus(tmp_path / "raw", SIZES)
    (raw / "train.en").unlink()
    with gzip.open(raw / "train.en.gz", "wb") as handle:
        handle.write((segmented / "train.en").read_bytes())
    stats = preprocess(_config(raw, tmp_path / "bin", tokenize="none", validpref=[], testpref=[]))
    assert stats["bpe"] == "none"
    assert f"{raw / 'train.en.gz'} already carries BPE markers" in capsys.readouterr().err
    # Without --trainpref the first split given is sampled (dictionaries given, as they must be).
    full = tmp_path / "full"
    preprocess(_config(segmented, full))
    capsys.readouterr()
    stats = preprocess(
        _config(
            segmented,
            tmp_path / "mono",
            target_lang=None,
            trainpref=None,
            testpref=[],
            srcdict=str(full / "dict.de.txt"),
        )
    )
    assert (stats["tokenize"], stats["bpe"]) == ("none", "none")
    assert f"{segmented / 'valid.de'} already carries BPE markers" in capsys.readouterr().err
    assert (tmp_path / "mono" / "valid.de-None.de.bin").read_bytes() == (full / "valid.de-en.de.bin").read_bytes()
