"""What --eval-bleu costs per validation: the validation pass with and without it, on one checkpoint.

Usage:
    python benchmarks/eval_bleu_cost.py DATA_DIR CHECKPOINT [--eval-bleu-args JSON] [--max-tokens 4096]

Runs the translation task's validation exactly as `nmt train` does (its batches, its
valid_step under no_grad, the model in eval mode), once without and once with validation
BLEU, and prints the seconds of each and the BLEU.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
from _machine import cpu_name  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit.criterions.cross_entropy import LabelSmoothedCrossEntropyConfig, LabelSmoothedCrossEntropyCriterion  # noqa: E402
from toolkit.tasks.base import Batching  # noqa: E402
from toolkit.tasks.translation import TranslationConfig, TranslationTask  # noqa: E402
from toolkit.train.checkpoint import load_model_for_inference  # noqa: E402
from toolkit.train.validation_bleu import EvalBleuConfig  # noqa: E402


def validate(task: TranslationTask, model, criterion, max_tokens: int) -> tuple[float, dict]:
    plan = task.valid_plan(Batching(max_tokens, None, model.max_positions()))
    start = time.perf_counter()
    with torch.no_grad():
        logs = [task.valid_step(model, criterion, task.batch(ref, train=False)) for ref in plan.batches]
    return time.perf_counter() - start, task.reduce_logs(logs, criterion)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("checkpoint")
    parser.add_argument("--eval-bleu-args", default='{"beam": 5, "max_len_a": 1.2, "max_len_b": 10}')
    parser.add_argument("--max-tokens", type=int, default=4096)
    args = parser.parse_args()
    threads = torch.get_num_threads()
    print(f"machine: {os.cpu_count()} cores, {cpu_name()}, torch {torch.__version__}, threads {threads}")
    loaded = load_model_for_inference(args.checkpoint)
    model = loaded.model.eval()
    criterion = LabelSmoothedCrossEntropyCriterion(LabelSmoothedCrossEntropyConfig(0.1))
    common = dict(data=args.data, source_lang=loaded.src_lang, target_lang=loaded.tgt_lang)
    plain = TranslationTask(TranslationConfig(**common))
    bleu = TranslationTask(
        TranslationConfig(**common, eval_bleu=EvalBleuConfig(eval_bleu=True, eval_bleu_args=args.eval_bleu_args))
    )
    sentences = len(plain.load_split("valid"))
    without, stats = validate(plain, model, criterion, args.max_tokens)
    with_bleu, bleu_stats = validate(bleu, model, criterion, args.max_tokens)
    print(f"checkpoint {args.checkpoint}: {loaded.config['train']['arch']}, valid {sentences} sentences")
    print(f"validation without --eval-bleu: {without:7.1f} s (loss {stats['loss']:.3f})")
    print(f"validation with    --eval-bleu: {with_bleu:7.1f} s (BLEU {bleu_stats['bleu']:.2f}, {args.eval_bleu_args})")
    print(f"cost of --eval-bleu per validation: {with_bleu - without:.1f} s ({with_bleu / max(without, 1e-9):.1f}x)")


if __name__ == "__main__":
    main()
