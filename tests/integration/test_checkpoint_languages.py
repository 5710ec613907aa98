"""Checkpoints keyed by language: old ones (format 1) still translate as they did; a direction can be chosen."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from tests.helpers.cli import nmt_captured
from tests.helpers.pipeline import tiny_data
from toolkit.data.dictionary import Dictionary
from toolkit.data.indexed import MMapIndexedDataset

FORMAT1 = Path(__file__).resolve().parents[1] / "fixtures" / "format1"
# tests/fixtures/format1/checkpoint.pt: written by nmt at commit 6dca29e (before the task seam) from
# tiny_data's corpus: transformer_tiny with 1+1 layers of width 16, 2 updates. generate-valid.txt is
# what that nmt printed for `generate BIN --path checkpoint.pt --gen-subset valid --beam 2`.


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return tiny_data(tmp_path_factory.mktemp("tiny"))


def _generate(data: Path, checkpoint: Path, *flags: str) -> list[str]:
    code, output = nmt_captured("generate", str(data), "--path", str(checkpoint), "--gen-subset", "valid",
                                "--beam", "2", "--no-progress-bar", *flags)  # fmt: skip
    assert code == 0, output
    return [line for line in output.splitlines() if "sentences/s" not in line]


def _fields(line: str) -> list[str | float]:
    """A generate line's fields, the numbers as floats: scores may differ in the last digit across CPUs."""
    out: list[str | float] = []
    for field in line.replace("\t", " ").split(" "):
        try:
            out.append(float(field))
        except ValueError:
            out.append(field)
    return out


def _assert_same_output(actual: list[str], expected: list[str]) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        got_fields, want_fields = _fields(got), _fields(want)
        assert len(got_fields) == len(want_fields), (got, want)
        for g, w in zip(got_fields, want_fields, strict=True):
            if isinstance(w, float):
                assert g == pytest.approx(w, abs=1e-4), (got, want)
            else:
                assert g == w, (got, want)


def test_an_old_checkpoint_loads_and_translates_as_it_did(data, tmp_path):
    state = torch.load(FORMAT1 / "checkpoint.pt", weights_only=True)
    assert state["format_version"] == 1 and set(state["dictionaries"]) == {"src", "tgt"}
    expected = (FORMAT1 / "generate-valid.txt").read_text(encoding="utf-8").splitlines()
    _assert_same_output(_generate(data, FORMAT1 / "checkpoint.pt"), expected)
    code, output = nmt_captured("generate", str(data), "--path", str(FORMAT1 / "checkpoint.pt"), "-s", "fr")
    assert code == 2 and "--source-lang fr" in output and "translates de -> en" in output
    # and it resumes: its optimizer and counters continue in a new run
    code, output = nmt_captured("train", str(data), "--arch", "transformer_tiny", "--encoder-layers", "1",
                                "--decoder-layers", "1", "--encoder-embed-dim", "16", "--decoder-embed-dim", "16",
                                "--encoder-ffn-embed-dim", "32", "--decoder-ffn-embed-dim", "32",
                                "--encoder-attention-heads", "2", "--decoder-attention-heads", "2",
                                "--restore-file", str(FORMAT1 / "checkpoint.pt"), "--max-update", "3",
                                "--save-dir", str(tmp_path / "ckpt"), "--log-format", "simple",
                                "--no-save")  # fmt: skip
    assert code == 0 and "update 2" in output and "after 3 updates" in output, output


def test_a_checkpoint_with_two_directions_translates_either_way(data, tmp_path):
    state = torch.load(FORMAT1 / "checkpoint.pt", weights_only=True)
    # The same weights as a format-2 checkpoint recording both directions of its joined dictionary.
    dictionary = state["dictionaries"]["src"]
    processors = state["text_processors"]
    state.update(
        format_version=2,
        languages={"source": "de", "target": "en", "directions": [["de", "en"], ["en", "de"]]},
        dictionaries={"de": dictionary, "en": dictionary},
        text_processors={"de": processors["src"], "en": processors["tgt"]},
    )
    both = tmp_path / "both.pt"
    torch.save(state, both)
    assert _generate(data, both) == _generate(data, FORMAT1 / "checkpoint.pt")  # the trained direction by default
    reverse = _generate(data, both, "-s", "en", "-t", "de")
    dictionary = Dictionary.load(data / "dict.en.txt")
    english = MMapIndexedDataset(data / "valid.de-en.en")  # the same split, read the other way round
    sources = {int(line.split("\t")[0][2:]): line.split("\t")[1] for line in reverse if line.startswith("S-")}
    assert [sources[i] for i in range(8)] == [dictionary.string(english[i], bpe_symbol="@@ ") for i in range(8)]
    code, output = nmt_captured("translate", "--path", str(both), "-s", "en", "-t", "de", "-i",
                                str(data.parent / "valid.en"))  # fmt: skip
    assert code == 0 and len(output.splitlines()) == 8, output
    code, output = nmt_captured("translate", "--path", str(both), "-s", "en", "-t", "fr")
    assert code == 2 and "translates de -> en, en -> de" in output


def test_a_monolingual_split_generates_without_references(data, tmp_path):
    code, output = nmt_captured("preprocess", "--only-source", "-s", "de", "--srcdict", str(data / "dict.de.txt"),
                                "--bpe-codes", str(data / "bpecodes"), "--testpref", str(data.parent / "valid"),
                                "--destdir", str(tmp_path / "mono"), "--workers", "1", "--quiet")  # fmt: skip
    assert code == 0, output
    mono = tmp_path / "data"
    shutil.copytree(data, mono)
    for ext in ("bin", "idx"):
        shutil.copyfile(tmp_path / "mono" / f"test.de-None.de.{ext}", mono / f"mono.de-None.de.{ext}")
    lines = _generate(mono, FORMAT1 / "checkpoint.pt", "--gen-subset", "mono")
    assert not any(line.startswith("T-") for line in lines) and not any("BLEU" in line for line in lines)
    with_refs = _generate(data, FORMAT1 / "checkpoint.pt")
    hypotheses = lambda out: [x for x in out if x[:2] in ("S-", "H-", "D-", "P-")]  # noqa: E731
    assert hypotheses(lines) == hypotheses(with_refs)  # the same sentences, the same translations
    source_only = _generate(data, FORMAT1 / "checkpoint.pt", "--source-only")
    assert hypotheses(source_only) == hypotheses(with_refs) and not any("BLEU" in x for x in source_only)
