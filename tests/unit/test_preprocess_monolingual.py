"""--monolingual-trainpref: monolingual text joins BPE and the dictionaries and becomes train.LANG-None.LANG."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.conftest import make_corpus
from tests.helpers.preprocess_config import preprocess_config
from toolkit.data.dictionary import Dictionary
from toolkit.data.indexed import MMapIndexedDataset
from toolkit.data.preprocess import preprocess
from toolkit.data.text_processor import load_text_processors

SIZES = {"train": 200, "valid": 20, "test": 20}
# Letters j, v and x occur nowhere in the generated corpus: every merge holding one comes from this text.
MONO_EN = ["the jovix runs", "a big jovix", "jovix"] * 100 + ["the dog sits"]
MONO_DE = ["Ein jovix läuft", "der jovix"] * 50


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    raw = make_corpus(tmp_path / "raw", SIZES)
    (raw / "mono.en").write_text("".join(line + "\n" for line in MONO_EN), encoding="utf-8")
    with gzip.open(raw / "mono.de.gz", "wt", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in MONO_DE))
    return raw


def _merges(dest: Path) -> list[str]:
    return (dest / "bpecodes").read_text(encoding="utf-8").splitlines()[1:]


def test_monolingual_text_joins_bpe_and_the_dictionaries(raw, tmp_path):
    plain, mono = tmp_path / "plain", tmp_path / "mono"
    preprocess(preprocess_config(raw, plain))
    stats = preprocess(preprocess_config(raw, mono, monolingual_trainpref=[f"en={raw / 'mono.en'}"]))
    assert not [m for m in _merges(plain) if set(m) & set("jvx")]
    assert len([m for m in _merges(mono) if set(m) & set("jvx")]) >= 4  # jovix is learned as a word
    en, de = Dictionary.load(mono / "dict.en.txt"), Dictionary.load(mono / "dict.de.txt")
    assert en.counts[en.index("jovix")] == 300 and "jovix" not in Dictionary.load(plain / "dict.en.txt")
    assert "jovix" not in de  # separate dictionaries: only English text saw it
    # The parallel splits are still binarized as before, and the monolingual one next to them.
    assert stats["splits"]["train"]["en"]["sentences"] == 200
    ds = MMapIndexedDataset(mono / "train.en-None.en")
    processor = load_text_processors(mono)["en"]
    assert len(ds) == len(MONO_EN) == 301
    assert [en.string(ds[i]) for i in range(len(ds))] == [processor.encode(line) for line in MONO_EN]
    assert en.string(ds[2]) == "jovix" and ds[2].tolist() == [en.index("jovix"), en.eos_index]
    meta = json.loads((mono / "preprocess.json").read_text())
    assert meta["monolingual_splits"]["en"] == {
        "split": "train",
        "prefix": "train.en-None.en",
        **stats["monolingual_splits"]["en"],
    }
    assert meta["monolingual_splits"]["en"]["sentences"] == 301 and meta["monolingual_splits"]["en"]["unk_tokens"] == 0
    assert meta["inputs"]["monolingual.en"]["lines"] == 301
    assert meta["config"]["monolingual_trainpref"] == [f"en={raw / 'mono.en'}"]
    assert "monolingual_trainpref" not in json.loads((plain / "preprocess.json").read_text())["config"]
    # --joined-dictionary: the one dictionary holds the monolingual words too.
    stats = preprocess(
        preprocess_config(
            raw, tmp_path / "joined", joined_dictionary=True, monolingual_trainpref=[f"en={raw / 'mono.en'}"]
        )
    )
    joined = Dictionary.load(tmp_path / "joined" / "dict.de.txt")
    assert (
        joined == Dictionary.load(tmp_path / "joined" / "dict.en.txt") and joined.counts[joined.index("jovix")] == 300
    )


def test_monolingual_text_for_both_languages_needs_no_trainpref(raw, tmp_path):
    mono = [f"en={raw / 'mono.en'}", f"de={raw / 'mono.de.gz'}"]
    runs = {}
    for workers in (1, 2):
        dest = tmp_path / f"w{workers}"
        runs[workers] = preprocess(
            preprocess_config(raw, dest, trainpref=None, testpref=[], monolingual_trainpref=mono, workers=workers)
        )
    stats, dest = runs[1], tmp_path / "w1"
    assert sorted(stats["splits"]) == ["valid"] and sorted(stats["monolingual_splits"]) == ["de", "en"]
    assert stats["monolingual_splits"]["de"]["sentences"] == 100
    names = sorted(p.name for p in dest.iterdir())
    assert names == sorted(
        ["bpecodes", "dict.de.txt", "dict.en.txt", "preprocess.json"]
        + [
            f"{p}.{ext}"
            for p in ("train.de-None.de", "train.en-None.en", "valid.de-en.de", "valid.de-en.en")
            for ext in ("bin", "idx")
        ]
    )
    for name in names:  # any number of workers writes the same bytes
        assert (dest / name).read_bytes() == (tmp_path / "w2" / name).read_bytes(), name
    de = Dictionary.load(dest / "dict.de.txt")
    ds = MMapIndexedDataset(dest / "train.de-None.de")
    assert [de.string(ds[i], bpe_symbol="@@ ") for i in range(2)] == ["Ein jovix läuft", "der jovix"]
    assert len(MMapIndexedDataset(dest / "valid.de-en.en")) == 20
    again = preprocess_config(raw, dest, trainpref=None, testpref=[], monolingual_trainpref=mono)
    assert preprocess(again)["already_done"] is True  # the monolingual inputs are part of the fingerprint
