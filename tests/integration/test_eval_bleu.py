"""--eval-bleu: validation BLEU equals what nmt generate prints, and checkpoint_best.pt holds the best of it."""

from __future__ import annotations

import json
import re

from tests.helpers.cli import nmt_captured
from tests.helpers.pipeline import tiny_data

MODEL = ["--arch", "transformer_tiny", "--encoder-layers", "1", "--decoder-layers", "1", "--encoder-embed-dim", "32",
         "--decoder-embed-dim", "32", "--encoder-ffn-embed-dim", "64", "--decoder-ffn-embed-dim", "64",
         "--dropout", "0", "--lr", "3e-3", "--warmup-updates", "10", "--max-tokens", "64"]  # fmt: skip


def _generate_bleu(data, checkpoint) -> float:
    code, output = nmt_captured("generate", str(data), "--path", str(checkpoint), "--gen-subset", "valid",
                                "--beam", "2", "--max-len-a", "1", "--max-len-b", "5", "--quiet")  # fmt: skip
    assert code == 0, output
    return float(re.search(r"BLEU\|\S+ = ([0-9.]+)", output).group(1))


def test_validation_bleu_equals_generate_and_picks_the_best_checkpoint(tmp_path):
    data = tiny_data(tmp_path)
    save = tmp_path / "ckpt"
    code, output = nmt_captured("train", str(data), *MODEL, "--max-epoch", "4", "--save-dir", str(save),
                                "--eval-bleu", "--eval-bleu-args", '{"beam": 2, "max_len_a": 1, "max_len_b": 5}',
                                "--eval-bleu-print-samples", "--best-checkpoint-metric", "bleu",
                                "--maximize-best-checkpoint-metric", "--log-format", "simple")  # fmt: skip
    assert code == 0, output
    assert "example hypothesis:" in output and "example reference:" in output
    valid = [json.loads(line) for line in (save / "train_log.jsonl").read_text().splitlines()]
    bleus = [record["bleu"] for record in valid if record["type"] == "valid"]
    assert len(bleus) == 4 and len(set(bleus)) > 1, bleus  # it learns: the figure moves
    for epoch, bleu in enumerate(bleus, start=1):
        assert _generate_bleu(data, save / f"checkpoint{epoch}.pt") == round(bleu, 2)
    assert _generate_bleu(data, save / "checkpoint_best.pt") == round(max(bleus), 2)
    assert valid[-1]["best_bleu"] == max(bleus)


def test_bleu_as_the_best_metric_needs_eval_bleu(tmp_path):
    data = tiny_data(tmp_path)
    code, output = nmt_captured("train", str(data), *MODEL, "--save-dir", str(tmp_path / "c"),
                                "--best-checkpoint-metric", "bleu", "--maximize-best-checkpoint-metric")  # fmt: skip
    assert code == 2 and "bleu needs --eval-bleu" in output
    code, output = nmt_captured("train", str(data), *MODEL, "--save-dir", str(tmp_path / "c"), "--eval-bleu",
                                "--best-checkpoint-metric", "bleu")  # fmt: skip
    assert code == 2 and "add --maximize-best-checkpoint-metric" in output
    code, output = nmt_captured("train", str(data), *MODEL, "--eval-bleu", "--eval-bleu-args", '{"beems": 2}')
    assert code == 2 and "beems" in output
