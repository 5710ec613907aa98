"""Unsupervised MT learns a word-substitution cipher from two unrelated monolingual corpora.

No parallel sentence is trained on (tests/helpers/cipher.py: language B renames A's subjects and
verbs and shares its objects, `and` and `.`). Denoising and online back-translation through
`nmt train --task unsupervised_translation` must then translate the held-out test split in both
directions through `nmt generate`, each in the language asked for: the ciphered words (the ones
copying cannot get right) are translated right at least ACCURACY of the time.
"""

from __future__ import annotations

import pytest

from tests.helpers.cipher import ANCHORS, preprocess_cipher
from tests.helpers.cli import nmt

MODEL = [
    "--arch", "transformer_tiny", "--encoder-layers", "2", "--decoder-layers", "2", "--encoder-embed-dim", "64",
    "--encoder-ffn-embed-dim", "128", "--decoder-embed-dim", "64", "--decoder-ffn-embed-dim", "128",
    "--dropout", "0.1", "--language-embeddings", "2", "--language-signal", "both",
]  # fmt: skip
# Measured (seed 1, one thread of a busy 2-core AVX2 machine): 300 updates (15 epochs) take about
# 150 s with validation; the ciphered words of the test split come out right 77% of the time in
# each direction (the frequent subjects and verbs all right, the rarest often not), none in the wrong
# language. Guessing from word frequencies alone would get about 25% right.
UPDATES = 300
ACCURACY = 0.7


def cipher_word_accuracy(lines: list[str], target_side_ciphered: bool) -> tuple[float, float]:
    """(share of the reference's ciphered words the hypothesis has at the same place, share of output
    words in the wrong language) over generate's T-/H- lines."""
    refs = {line.split("\t")[0][2:]: line.split("\t")[1].split() for line in lines if line.startswith("T-")}
    hyps = {line.split("\t")[0][2:]: line.split("\t")[2].split() for line in lines if line.startswith("H-")}
    assert refs.keys() == hyps.keys() and refs
    right = total = wrong_language = words = 0
    for key, ref in refs.items():
        hyp = hyps[key]
        for position, word in enumerate(ref):
            if word in ANCHORS:
                continue
            total += 1
            right += position < len(hyp) and hyp[position] == word
        for word in hyp:
            if word not in ANCHORS:
                words += 1
                wrong_language += word[0].isupper() != target_side_ciphered  # B's words are capitalised
    return right / total, wrong_language / max(words, 1)


@pytest.mark.slow
def test_unsupervised_training_learns_the_cipher_both_ways(tmp_path):
    data = preprocess_cipher(tmp_path / "cipher")
    trained = nmt(
        "train", str(data), "--task", "unsupervised_translation", *MODEL, "--max-tokens", "1024",
        "--max-update", str(UPDATES), "--lr", "0.002", "--warmup-updates", "30", "--no-epoch-checkpoints",
        "--best-checkpoint-metric", "bleu", "--maximize-best-checkpoint-metric",
        "--save-dir", str(tmp_path / "model"), "--log-format", "simple", "--seed", "1",
        threads=1,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-2000:]
    for source, target in (("a", "b"), ("b", "a")):
        generated = nmt(
            "generate", str(data), "--path", str(tmp_path / "model" / "checkpoint_best.pt"), "-s", source, "-t",
            target, "--gen-subset", "test", "--beam", "1", "--batch-size", "100",
            threads=1,
        )  # fmt: skip
        assert generated.returncode == 0, generated.stderr[-2000:]
        accuracy, wrong_language = cipher_word_accuracy(generated.stdout.splitlines(), target == "b")
        assert accuracy >= ACCURACY, f"{source}->{target}: ciphered words right {accuracy:.0%}"
        assert wrong_language < 0.02, f"{source}->{target}: {wrong_language:.0%} of the words in the wrong language"
