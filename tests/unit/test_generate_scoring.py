"""`nmt generate --scoring`: which figure is printed, checked against sacreBLEU's own functions."""

from __future__ import annotations

import re

import pytest
import sacrebleu

from toolkit.search.subset import GenerateConfig, _score_line

# Detokenized (D-/T- lines) and tokenized, BPE-removed (H- lines, references) forms of three sentences.
DETOK = {0: "A dog's ball, red.", 1: "Two men play.", 2: "It's late!"}
DETOK_REFS = {0: "A dog's red ball.", 1: "Two men are playing.", 2: "It is late!"}
TOKENIZED = {
    0: ("A dog 's ball , red .", "A dog 's red ball ."),
    1: ("Two men play .", "Two men are playing ."),
    2: ("It 's late !", "It is late !"),
}


def _score(scoring: str) -> tuple[dict, str]:
    config = GenerateConfig(data="D", path="m.pt", scoring=scoring)
    return _score_line(config, [0, 1, 2], DETOK, DETOK_REFS, TOKENIZED)


def test_sacrebleu_is_detokenized_sacrebleu():
    fields, text = _score("sacrebleu")
    expected = sacrebleu.corpus_bleu(list(DETOK.values()), [list(DETOK_REFS.values())])
    assert fields["bleu"] == pytest.approx(expected.score) and text.startswith("BLEU|nrefs:1")


def test_bleu_is_fairseqs_bleu4_on_the_tokenized_hypotheses():
    fields, text = _score("bleu")
    hyps, refs = [h for h, _ in TOKENIZED.values()], [r for _, r in TOKENIZED.values()]
    expected = sacrebleu.corpus_bleu(hyps, [refs], tokenize="none")
    assert fields["bleu"] == pytest.approx(expected.score)
    assert float(re.match(r"BLEU4 = ([\d.]+)", text).group(1)) == pytest.approx(expected.score, abs=0.005)
    assert fields["bleu"] != pytest.approx(_score("sacrebleu")[0]["bleu"])  # a different figure, named apart


def test_chrf_is_sacrebleu_chrf_on_detokenized_text():
    fields, text = _score("chrf")
    expected = sacrebleu.corpus_chrf(list(DETOK.values()), [list(DETOK_REFS.values())])
    assert fields["chrf"] == pytest.approx(expected.score) and text.startswith("chrF2|")
