import gzip
import json
import shutil

import pytest

from tests.helpers.preprocess_config import preprocess_config
from toolkit.data.dictionary import Dictionary
from toolkit.data.indexed import MMapIndexedDataset
from toolkit.data.preprocess import preprocess
from toolkit.data.text_processor import load_text_processors

_config = preprocess_config


def test_binarized_text_reads_back_as_the_bpe_text(tiny_corpus, tmp_path):
    dest = tmp_path / "bin"
    stats = preprocess(_config(tiny_corpus, dest, joined_dictionary=True))
    assert stats["splits"]["train"]["de"]["sentences"] == 300
    processors = load_text_processors(dest)
    for split in ("train", "valid", "test"):
        for lang in ("de", "en"):
            d = Dictionary.load(dest / f"dict.{lang}.txt")
            ds = MMapIndexedDataset(dest / f"{split}.de-en.{lang}")
            raw = (tiny_corpus / f"{split}.{lang}").read_text(encoding="utf-8").splitlines()
            assert len(ds) == len(raw)
            for i, line in enumerate(raw):
                assert ds[i][-1] == d.eos_index
                assert d.string(ds[i]) == processors[lang].encode(line)
    assert Dictionary.load(dest / "dict.de.txt") == Dictionary.load(dest / "dict.en.txt")
    assert len(Dictionary.load(dest / "dict.de.txt")) % 8 == 0


def test_output_identical_for_any_number_of_workers(tiny_corpus, tmp_path):
    preprocess(_config(tiny_corpus, tmp_path / "w1", workers=1))
    preprocess(_config(tiny_corpus, tmp_path / "w2", workers=2))
    preprocess(_config(tiny_corpus, tmp_path / "w3", workers=3))
    names = sorted(p.name for p in (tmp_path / "w1").iterdir())
    assert "bpecodes" in names and "test.de-en.en.idx" in names
    for other in ("w2", "w3"):
        assert sorted(p.name for p in (tmp_path / other).iterdir()) == names
        for name in names:
            assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / other / name).read_bytes(), name


def test_bpe_dropout_copies_follow_the_deterministic_training_split(tiny_corpus, tmp_path):
    plain, dropped = tmp_path / "plain", tmp_path / "dropout"
    preprocess(_config(tiny_corpus, plain, joined_dictionary=True))
    stats = preprocess(_config(tiny_corpus, dropped, joined_dictionary=True, bpe_dropout=0.3, bpe_dropout_copies=2))
    assert stats["splits"]["train"]["en"]["sentences"] == 900 and stats["splits"]["valid"]["en"]["sentences"] == 30
    assert stats["splits"]["train"]["en"]["unk_tokens"] == 0
    recorded = [json.loads((d / "preprocess.json").read_text())["config"] for d in (plain, dropped)]
    assert "seed" not in recorded[0] and recorded[1]["bpe_dropout_copies"] == 2  # old destinations stay valid
    d0, d1 = Dictionary.load(plain / "dict.en.txt"), Dictionary.load(dropped / "dict.en.txt")
    assert len(d1) > len(d0)  # the finer pieces the copies use have entries of their own
    for lang in ("de", "en"):
        reference = MMapIndexedDataset(plain / f"train.de-en.{lang}")
        train = MMapIndexedDataset(dropped / f"train.de-en.{lang}")
        first = [d1.string(train[i]) for i in range(300)]
        assert first == [d0.string(reference[i]) for i in range(300)]
        copies = [d1.string(train[i]) for i in range(300, 900)]
        assert [c.replace("@@ ", "") for c in copies] == [f.replace("@@ ", "") for f in first] * 2
        assert sum(c != f for c, f in zip(copies, first * 2, strict=True)) > 100
        assert copies[:300] != copies[300:]  # each copy is sampled anew
        for split in ("valid", "test"):  # only training text is perturbed
            a, b = (
                MMapIndexedDataset(plain / f"{split}.de-en.{lang}"),
                MMapIndexedDataset(dropped / f"{split}.de-en.{lang}"),
            )
            assert [d0.string(a[i]) for i in range(len(a))] == [d1.string(b[i]) for i in range(len(b))]


def test_bpe_dropout_is_identical_for_any_number_of_workers(tiny_corpus, tmp_path):
    for workers in (1, 2):
        preprocess(_config(tiny_corpus, tmp_path / f"w{workers}", workers=workers, bpe_dropout=0.2))
    for name in ("train.de-en.de.bin", "train.de-en.en.bin", "dict.de.txt", "dict.en.txt"):
        assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / "w2" / name).read_bytes(), name


def test_gzip_input_gives_the_same_data(tiny_corpus, tmp_path):
    gz = tmp_path / "gz"
    gz.mkdir()
    for path in tiny_corpus.iterdir():
        with gzip.open(gz / (path.name + ".gz"), "wb") as handle:
            handle.write(path.read_bytes())
    preprocess(_config(tiny_corpus, tmp_path / "plain"))
    preprocess(_config(gz, tmp_path / "zipped"))
    for name in ("train.de-en.de.bin", "test.de-en.en.idx", "dict.en.txt", "bpecodes"):
        assert (tmp_path / "plain" / name).read_bytes() == (tmp_path / "zipped" / name).read_bytes()


def test_thresholds_separate_bpe_and_sizes(tiny_corpus, tmp_path):
    dest = tmp_path / "t"
    stats = preprocess(_config(tiny_corpus, dest, bpe_separate=True, thresholdsrc=1000, nwordstgt=20))
    assert (dest / "bpecodes.de").is_file() and (dest / "bpecodes.en").is_file()
    src = Dictionary.load(dest / "dict.de.txt")
    assert len(src) == 8 and all(s.startswith("madeupword") for s in src.symbols[4:])
    assert stats["splits"]["train"]["de"]["unk_rate"] == 1.0
    assert len(Dictionary.load(dest / "dict.en.txt")) == 24  # 20 padded to a multiple of 8


def test_monolingual_reuse_of_dictionary_and_codes(tiny_corpus, tmp_path):
    preprocess(_config(tiny_corpus, tmp_path / "full"))
    stats = preprocess(
        _config(
            tiny_corpus,
            tmp_path / "mono",
            target_lang=None,
            trainpref=None,
            bpe_codes=str(tmp_path / "full" / "bpecodes"),
            srcdict=str(tmp_path / "full" / "dict.de.txt"),
        )
    )
    assert (tmp_path / "mono" / "valid.de-None.de.bin").is_file()
    assert stats["languages"] == ["de"]
    assert (tmp_path / "mono" / "dict.de.txt").read_bytes() == (tmp_path / "full" / "dict.de.txt").read_bytes()
    assert (tmp_path / "mono" / "valid.de-None.de.bin").read_bytes() == (
        tmp_path / "full" / "valid.de-en.de.bin"
    ).read_bytes()


def test_no_tokenizer_no_bpe(tiny_corpus, tmp_path):
    stats = preprocess(_config(tiny_corpus, tmp_path / "n", tokenize="none", bpe="none"))
    assert not (tmp_path / "n" / "bpecodes").exists()
    words = sum(len(line.split()) for line in (tiny_corpus / "test.en").read_text().splitlines())
    assert stats["splits"]["test"]["en"]["tokens"] == words


def test_rerun_is_a_no_op_and_changes_are_refused(tiny_corpus, tmp_path):
    from toolkit.errors import UserError

    config = _config(tiny_corpus, tmp_path / "d")
    assert preprocess(config)["already_done"] is False
    before = (tmp_path / "d" / "preprocess.json").stat().st_mtime_ns
    assert preprocess(_config(tiny_corpus, tmp_path / "d", workers=2))["already_done"] is True
    assert (tmp_path / "d" / "preprocess.json").stat().st_mtime_ns == before
    with pytest.raises(UserError, match="config.bpe_merges"):
        preprocess(_config(tiny_corpus, tmp_path / "d", bpe_merges=61))
    stats = preprocess(_config(tiny_corpus, tmp_path / "d", bpe_merges=61, overwrite=True))
    assert json.loads((tmp_path / "d" / "preprocess.json").read_text())["config"]["bpe_merges"] == 61
    assert stats["already_done"] is False
    shutil.rmtree(tmp_path / "d")


EXTRA = ["<BT>", "<2en>", "<mask>"]


def _tag_corpus(raw) -> int:
    """Tag every second English training line with <BT> (and hide a <mask> in German); returns the tag count."""
    for lang, tag in (("en", "<BT> "), ("de", "")):
        path = raw / f"train.{lang}"
        lines = path.read_text(encoding="utf-8").splitlines()
        lines = [(tag if i % 2 == 0 else "") + line for i, line in enumerate(lines)]
        if lang == "de":
            lines[0] = "Der Hund <mask> läuft."
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return 150


def test_extra_symbols_follow_the_specials_and_are_never_split(tiny_corpus, tmp_path):
    tagged = _tag_corpus(tiny_corpus)
    dest = tmp_path / "x"
    stats = preprocess(_config(tiny_corpus, dest, extra_symbols=EXTRA, bpe_dropout=0.5, bpe_dropout_copies=2))
    merges = (dest / "bpecodes").read_text(encoding="utf-8").splitlines()[1:]
    assert len(merges) == 60 and not [m for m in merges if set(m.replace("</w>", "")) & set("<>")]
    en, de = (Dictionary.load(dest / f"dict.{lang}.txt") for lang in ("en", "de"))
    for d in (en, de):
        assert d.symbols[4:7] == EXTRA and [d.index(s) for s in EXTRA] == [4, 5, 6]
    train = MMapIndexedDataset(dest / "train.de-en.en")
    assert len(train) == 900  # the deterministic split and two BPE-dropout copies
    assert sum(int((train[i] == 4).sum()) for i in range(900)) == 3 * tagged  # one whole id each time, every copy
    assert en.counts[4] == 3 * tagged and en.counts[5] == 0  # counted like any symbol; <2en> is reserved unused
    assert [en.string(train[i]).startswith("<BT> ") for i in (0, 1, 300, 301, 600)] == [True, False, True, False, True]
    first = MMapIndexedDataset(dest / "train.de-en.de")[0]  # Moses kept "<mask>" whole: Der Hund <mask> läuft.
    assert first.tolist().count(6) == 1 and de.string(first).replace("@@ ", "") == "Der Hund <mask> läuft ."
    meta = json.loads((dest / "preprocess.json").read_text())
    assert meta["extra_symbols"] == {
        "symbols": EXTRA,
        "ids": {lang: dict(zip(EXTRA, (4, 5, 6), strict=True)) for lang in ("de", "en")},
    }
    assert meta["config"]["extra_symbols"] == EXTRA and stats["splits"]["train"]["en"]["unk_tokens"] == 0
    # A dictionary cut down to nothing keeps them, before the padding.
    preprocess(_config(tiny_corpus, tmp_path / "cut", extra_symbols=EXTRA, thresholdsrc=10**6))
    cut = Dictionary.load(tmp_path / "cut" / "dict.de.txt")
    assert cut.symbols[4:] == [*EXTRA, "madeupword0000"]


def test_a_reused_dictionary_keeps_the_extra_symbol_ids(tiny_corpus, tmp_path):
    from toolkit.errors import UserError

    full = tmp_path / "full"
    preprocess(_config(tiny_corpus, full, joined_dictionary=True, extra_symbols=EXTRA))
    reuse = dict(target_lang=None, trainpref=None, bpe_codes=str(full / "bpecodes"), srcdict=str(full / "dict.de.txt"))
    stats = preprocess(_config(tiny_corpus, tmp_path / "mono", extra_symbols=EXTRA, **reuse))
    assert (tmp_path / "mono" / "dict.de.txt").read_bytes() == (full / "dict.de.txt").read_bytes()
    assert stats["extra_symbols"]["ids"] == {"de": {"<BT>": 4, "<2en>": 5, "<mask>": 6}}
    with pytest.raises(UserError, match=r"^--srcdict .*dict.de.txt lacks the --extra-symbols <sep>, <cls>: "):
        preprocess(_config(tiny_corpus, tmp_path / "more", extra_symbols=["<BT>", "<sep>", "<cls>"], **reuse))
    assert not (tmp_path / "more").exists()
