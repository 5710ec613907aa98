"""`nmt preprocess` through the real CLI: success, reruns, and every kind of bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.helpers.cli import nmt, nmt_in_process
from toolkit.data.indexed import MMapIndexedDataset


def _args(raw: Path, dest: Path, *extra: str) -> list[str]:
    return [
        "preprocess",
        "--source-lang",
        "de",
        "--target-lang",
        "en",
        "--trainpref",
        str(raw / "train"),
        "--validpref",
        str(raw / "valid"),
        "--testpref",
        str(raw / "test"),
        "--destdir",
        str(dest),
        "--bpe-merges",
        "50",
        "--workers",
        "1",
        "--quiet",
        *extra,
    ]


_run = nmt_in_process


def _assert_user_error(argv, capsys, parent: Path, *fragments: str) -> None:
    before = sorted(os.listdir(parent))
    code, err = _run(argv, capsys)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("nmt: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    assert sorted(os.listdir(parent)) == before  # nothing left behind, not even a temporary


def test_success_and_rerun(tiny_corpus, tmp_path, capsys):
    dest = tmp_path / "out" / "bin"
    code, err = _run(_args(tiny_corpus, dest, "--joined-dictionary"), capsys)
    assert code == 0, err
    assert len(MMapIndexedDataset(dest / "valid.de-en.en")) == 30
    meta = json.loads((dest / "preprocess.json").read_text())
    assert meta["config"]["source_lang"] == "de" and meta["splits"]["test"]["en"]["sentences"] == 30
    code, err = _run(_args(tiny_corpus, dest, "--joined-dictionary"), capsys)
    assert code == 0 and "nothing to do" in err
    _assert_user_error(_args(tiny_corpus, dest), capsys, tmp_path / "out", "different preprocessing", "--overwrite")
    code, err = _run(_args(tiny_corpus, dest, "--overwrite"), capsys)
    assert code == 0, err
    assert not json.loads((dest / "preprocess.json").read_text())["config"]["joined_dictionary"]


def test_missing_file(tiny_corpus, tmp_path, capsys):
    argv = _args(tiny_corpus, tmp_path / "bin")
    argv[argv.index("--validpref") + 1] = str(tiny_corpus / "nope")
    _assert_user_error(argv, capsys, tmp_path, "file not found", "nope.de")


def test_unequal_line_counts(tiny_corpus, tmp_path, capsys):
    lines = (tiny_corpus / "train.en").read_text().splitlines(keepends=True)
    (tiny_corpus / "train.en").write_text("".join(lines[:-2]))
    _assert_user_error(
        _args(tiny_corpus, tmp_path / "bin"), capsys, tmp_path, "train.de has 300 lines", "train.en has 298"
    )


def test_empty_split(tiny_corpus, tmp_path, capsys):
    for lang in ("de", "en"):
        (tiny_corpus / f"valid.{lang}").write_text("")
    _assert_user_error(_args(tiny_corpus, tmp_path / "bin"), capsys, tmp_path, "valid.de is empty")


def test_undecodable_bytes_and_replace(tiny_corpus, tmp_path, capsys):
    path = tiny_corpus / "train.de"
    lines = path.read_bytes().split(b"\n")
    lines[2] = b"Ein \xff Hund"
    path.write_bytes(b"\n".join(lines))
    _assert_user_error(
        _args(tiny_corpus, tmp_path / "bin"), capsys, tmp_path, "train.de, line 3", "--encoding-errors replace"
    )
    code, err = _run(_args(tiny_corpus, tmp_path / "bin", "--encoding-errors", "replace"), capsys)
    assert code == 0, err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--bpe-merges", "0"], "--bpe-merges must be at least 1"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--thresholdsrc", "-1"], "--thresholdsrc must not be negative"),
        (["--nwordstgt", "0"], "--nwordstgt must be positive or -1"),
        (["--tokenize", "spacy"], "argument --tokenize: 'spacy' is not one of: auto, moses, none"),
        (["--bpe", "none", "--bpe-codes", "x"], "--bpe-codes contradicts --bpe none"),
        (["--bpe-dropout", "1"], "--bpe-dropout must be in [0, 1)"),
        (["--bpe-dropout", "0.1", "--bpe-dropout-copies", "0"], "--bpe-dropout-copies must be at least 1"),
        (["--bpe", "none", "--bpe-dropout", "0.1"], "--bpe-dropout needs BPE"),
    ],
)
def test_nonsense_values(tiny_corpus, tmp_path, capsys, extra, message):
    _assert_user_error(_args(tiny_corpus, tmp_path / "bin", *extra), capsys, tmp_path, message)


def test_destination_not_made_by_us(tiny_corpus, tmp_path, capsys):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "notes.txt").write_text("mine")
    _assert_user_error(_args(tiny_corpus, tmp_path / "bin"), capsys, tmp_path, "not made by nmt preprocess")
    assert (tmp_path / "bin" / "notes.txt").read_text() == "mine"


def test_real_process_error_is_one_line(tiny_corpus, tmp_path):
    result = nmt(*_args(tiny_corpus, tmp_path / "bin", "--bpe-merges", "0"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "nmt: error: preprocess: --bpe-merges must be at least 1 (got 0)\n"
    assert sorted(os.listdir(tmp_path)) == ["raw"]


def test_multi30k_de_en(multi30k, tmp_path):
    dest = tmp_path / "m30k.de-en"
    args = [
        "preprocess",
        "--source-lang",
        "de",
        "--target-lang",
        "en",
        "--trainpref",
        str(multi30k / "train"),
        "--validpref",
        str(multi30k / "val"),
        "--testpref",
        str(multi30k / "test_2016_flickr"),
        "--destdir",
        str(dest),
        "--tokenize",
        "moses",
        "--bpe",
        "subword-nmt",
        "--bpe-merges",
        "10000",
        "--joined-dictionary",
        "--workers",
        "2",
        "--quiet",
    ]
    result = nmt(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    meta = json.loads((dest / "preprocess.json").read_text())
    for split, n in (("train", 29000), ("valid", 1014), ("test", 1000)):
        for lang in ("de", "en"):
            assert meta["splits"][split][lang]["sentences"] == n
            assert len(MMapIndexedDataset(dest / f"{split}.de-en.{lang}")) == n
    assert meta["splits"]["test"]["en"]["unk_rate"] < 0.01
    assert meta["dictionaries"]["de"]["size"] % 8 == 0


def _without_trainpref(argv: list[str]) -> list[str]:
    i = argv.index("--trainpref")
    return argv[:i] + argv[i + 2 :]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--monolingual-trainpref", "en"], "--monolingual-trainpref: expected LANG=FILE, got 'en'"),
        (["--monolingual-trainpref", "fr=MONO"], "'fr' is neither --source-lang de nor --target-lang en"),
        (["--monolingual-trainpref", "en=MONO,en=MONO"], "--monolingual-trainpref: en is given twice"),
        (["--monolingual-trainpref", "en=RAW/nope.txt"], "nope.txt: file not found"),
        (["--monolingual-trainpref", "en=RAW/bad.en"], "bad.en, line 2: invalid UTF-8 byte 0xff"),
        (["--monolingual-trainpref", "en=RAW/empty.en"], "empty.en is empty (monolingual text)"),
        (["--only-source", "--monolingual-trainpref", "de=MONO"], "--monolingual-trainpref needs --target-lang"),
        (
            ["NO-TRAIN", "--monolingual-trainpref", "en=MONO"],
            "needs monolingual text in every language: pass --monolingual-trainpref de=FILE",
        ),
        (
            ["NO-TRAIN", "--bpe", "none", "--monolingual-trainpref", "en=MONO"],
            "without --trainpref, de needs monolingual text or a dictionary: pass --monolingual-trainpref de=FILE",
        ),
        (["--extra-symbols", "<BT>,<a b>"], "--extra-symbols: '<a b>' contains whitespace"),
        (["--extra-symbols", "<BT>,<2en>,<BT>"], "--extra-symbols: <BT> is given twice"),
        (["--extra-symbols", "<unk>"], "--extra-symbols: <unk> is one of the special symbols <s> <pad> </s> <unk>"),
        (["--extra-symbols", "<BT>", "--srcdict", "RAW/dict.txt"], "dict.txt lacks the --extra-symbols <BT>: pass"),
    ],
)
def test_bad_monolingual_text_and_extra_symbols(tiny_corpus, tmp_path, capsys, extra, message):
    (tiny_corpus / "mono.en").write_text("a dog runs .\n", encoding="utf-8")
    (tiny_corpus / "bad.en").write_bytes(b"a dog\nruns \xff.\n")
    (tiny_corpus / "empty.en").write_text("", encoding="utf-8")
    (tiny_corpus / "dict.txt").write_text("Hund 3\n", encoding="utf-8")
    extra = [a.replace("MONO", str(tiny_corpus / "mono.en")).replace("RAW", str(tiny_corpus)) for a in extra]
    argv = _args(tiny_corpus, tmp_path / "bin", *(a for a in extra if a != "NO-TRAIN"))
    _assert_user_error(_without_trainpref(argv) if "NO-TRAIN" in extra else argv, capsys, tmp_path, message)


def test_monolingual_text_through_the_cli(tiny_corpus, tmp_path, capsys):
    (tiny_corpus / "mono.en").write_text("<BT> a dog runs .\n" * 5, encoding="utf-8")
    dest = tmp_path / "bin"
    argv = _args(
        tiny_corpus, dest, "--monolingual-trainpref", f"en={tiny_corpus / 'mono.en'}", "--extra-symbols", "<BT>"
    )
    code, err = _run([a for a in argv if a != "--quiet"], capsys)
    assert code == 0, err
    assert "\ntrain.en-None.en (monolingual): 5 sentences, " in err and "tokens, 0.00% <unk>\n" in err
    mono = MMapIndexedDataset(dest / "train.en-None.en")
    assert [mono[i][0] for i in range(len(mono))] == [4] * 5  # <BT>, whole
