"""`nmt preprocess --bpe characters` end to end: train, generate (H-/D- lines), translate, score."""

from __future__ import annotations

import random
from pathlib import Path

import sacrebleu

from tests.helpers.cli import nmt_captured, nmt_ok
from tests.helpers.pipeline import WORDS
from toolkit.data.characters import BOUNDARY, join_characters
from toolkit.data.text_processor import load_text_processors

SEARCH = ("--beam", "2", "--max-len-a", "0", "--max-len-b", "12", "--batch-size", "1")


def _corpus(root: Path) -> None:
    """Lines that Moses detokenizes back to themselves; some hold a literal ▁ (escaped in the units)."""
    rng = random.Random(0)
    for split, n in (("train", 60), ("valid", 6)):
        lines = []
        for i in range(n):
            words = [rng.choice(WORDS) for _ in range(rng.randint(2, 5))]
            if i % 3 == 0:
                words.insert(1, BOUNDARY)
            lines.append(" ".join(words) + ".")
        for lang in ("de", "en"):
            (root / f"{split}.{lang}").write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _lines(output: str, tag: str) -> dict[int, list[str]]:
    """{sentence id: fields after the tag} of the `tag`-i lines of a generate output."""
    out = {}
    for line in output.splitlines():
        if line.startswith(tag + "-") and line.split("\t", 1)[0][len(tag) + 1 :].isdigit():
            fields = line.split("\t")
            out[int(fields[0][len(tag) + 1 :])] = fields[1:]
    return out


def test_characters_preprocess_train_generate_translate_score(tmp_path):
    _corpus(tmp_path)
    data, ckpt = tmp_path / "bin", tmp_path / "ckpt"
    nmt_ok(
        "preprocess", "-s", "de", "-t", "en", "--trainpref", str(tmp_path / "train"), "--validpref",
        str(tmp_path / "valid"), "--destdir", str(data), "--bpe", "characters", "--joined-dictionary",
        "--workers", "1", "--quiet", threads=1,
    )  # fmt: skip
    assert not list(data.glob("bpecodes*"))
    nmt_ok(
        "train", str(data), "--arch", "transformer_tiny", "--encoder-layers", "1", "--decoder-layers", "1",
        "--max-update", "3", "--save-dir", str(ckpt), "--log-format", "simple", "--threads", "1", threads=1,
    )  # fmt: skip
    checkpoint = str(ckpt / "checkpoint_last.pt")
    raw_de = (tmp_path / "valid.de").read_text(encoding="utf-8").splitlines()
    raw_en = (tmp_path / "valid.en").read_text(encoding="utf-8").splitlines()
    processors = load_text_processors(data)

    # Scoring the references: T- and D- lines are the raw text itself (▁ included): nmt score gives 100.
    code, scored = nmt_captured(
        "generate", str(data), "--path", checkpoint, "--gen-subset", "valid", "--score-reference",
        "--results-path", str(tmp_path / "ref"),
    )  # fmt: skip
    assert code == 0, scored
    scored = (tmp_path / "ref" / "generate-valid.txt").read_text(encoding="utf-8")
    assert [_lines(scored, "D")[i][1] for i in range(6)] == raw_en
    assert [_lines(scored, "T")[i][0] for i in range(6)] == raw_en
    assert [_lines(scored, "S")[i][0] for i in range(6)] == [processors["de"].tokenize(x) for x in raw_de]
    code, report = nmt_captured("score", "--sys", str(tmp_path / "ref" / "generate-valid.txt"))
    assert code == 0 and report.startswith("BLEU|") and " = 100.00 " in report.splitlines()[0], report

    # Searching: the default --remove-bpe shows the words in H-, D- is their detokenized text.
    common = ("generate", str(data), "--path", checkpoint, "--gen-subset", "valid", *SEARCH)
    code, units_out = nmt_captured(*common, "--remove-bpe", "none")
    assert code == 0, units_out
    code, words_out = nmt_captured(*common, "--results-path", str(tmp_path / "hyp"))
    assert code == 0, words_out
    words_out = (tmp_path / "hyp" / "generate-valid.txt").read_text(encoding="utf-8")
    units, words, detok = _lines(units_out, "H"), _lines(words_out, "H"), _lines(words_out, "D")
    assert sorted(units) == sorted(words) == list(range(6))
    for i in range(6):
        assert units[i][0] == words[i][0] == detok[i][0]  # the same hypothesis: its score
        assert words[i][1] == join_characters(units[i][1]) == processors["en"].remove_bpe(units[i][1])
        assert detok[i][1] == processors["en"].decode(units[i][1])
        assert all(len(u) == 1 or u.startswith("<") for u in units[i][1].split())
    # nmt score of the D-/T- lines is sacreBLEU of those very strings
    code, report = nmt_captured("score", "--sys", str(tmp_path / "hyp" / "generate-valid.txt"))
    expected = sacrebleu.corpus_bleu([detok[i][1] for i in range(6)], [raw_en]).score
    assert code == 0 and f" = {expected:.2f} " in report.splitlines()[0], (report, expected)

    # Translating the raw source: characters to the model (the same hypotheses as generate on the
    # binarized split), words out; an empty line stays empty.
    source = tmp_path / "input.de"
    source.write_text("".join(line + "\n" for line in [raw_de[0], "", *raw_de[1:]]), encoding="utf-8")
    outputs = {}
    for fmt in ("bpe", "tokenized", "detok"):
        code, out = nmt_captured("translate", "--path", checkpoint, "--input", str(source), *SEARCH,
                                 "--output-format", fmt)  # fmt: skip
        assert code == 0, out
        outputs[fmt] = out.splitlines()
        assert len(outputs[fmt]) == 7 and outputs[fmt][1] == ""
        del outputs[fmt][1]
    assert outputs["bpe"] == [units[i][1] for i in range(6)]
    assert outputs["tokenized"] == [join_characters(u) for u in outputs["bpe"]]
    assert outputs["detok"] == [detok[i][1] for i in range(6)]
