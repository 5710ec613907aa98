"""Training throughput (target tokens/s) and peak memory on a preprocessed data directory.

Usage:
    python benchmarks/train_throughput.py DATA_DIR [--arch transformer_small] [--updates 300]
        [--precision fp32 bf16] [--max-tokens 4096] [--profile]

Runs the real Trainer (label-smoothed cross-entropy 0.1, adam, inverse_sqrt warmup) over
the training split's batches in epoch order, skipping the first updates as warm-up.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import torch
from _machine import cpu_name, runnable_precisions  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import toolkit.models  # noqa: E402,F401
from toolkit.criterions.cross_entropy import LabelSmoothedCrossEntropyConfig  # noqa: E402
from toolkit.data.batching import plan_batches  # noqa: E402
from toolkit.optim.lr_schedulers import InverseSqrtConfig  # noqa: E402
from toolkit.optim.optimizers import AdamConfig  # noqa: E402
from toolkit.registry import ARCHITECTURES  # noqa: E402
from toolkit.tasks.translation import TranslationConfig  # noqa: E402
from toolkit.train.config import TrainConfig  # noqa: E402
from toolkit.train.setup import TrainingSetup, build_components  # noqa: E402
from toolkit.train.trainer import Trainer  # noqa: E402


def measure(
    data: str, arch: str, precision: str, updates: int, warmup: int, max_tokens: int, profile: bool, device: str
) -> dict:
    _, model_config = ARCHITECTURES.resolve(arch)
    setup = TrainingSetup(
        train=TrainConfig(
            arch=arch, max_tokens=max_tokens, bf16=precision == "bf16", fp16=precision == "fp16", device=device
        ),
        task=TranslationConfig(data=data),
        model=model_config,
        criterion=LabelSmoothedCrossEntropyConfig(0.1),
        optimizer=AdamConfig(lr=5e-4),
        lr_scheduler=InverseSqrtConfig(warmup_updates=4000),
    )
    torch.manual_seed(1)
    dev = torch.device(device)
    task, model, criterion, optimizer, scheduler = build_components(setup, dev)
    trainer = Trainer(model, criterion, optimizer, scheduler, dev, bf16=precision == "bf16", fp16=precision == "fp16")
    data_split = task.load_split("train")
    plan = plan_batches(
        data_split.src_sizes, data_split.tgt_sizes, max_tokens, None, model.max_positions(), seed=1, epoch=1
    )
    batches = [data_split.batch(b) for b in plan.batches[: warmup + updates]]
    for batch in batches[:warmup]:
        trainer.train_step([batch])
    if dev.type == "cuda":
        torch.cuda.synchronize()
    tokens, start = 0, time.perf_counter()
    for batch in batches[warmup:]:
        trainer.train_step([batch])
        tokens += batch.ntokens
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    result = {
        "arch": arch,
        "precision": precision,
        "updates": len(batches) - warmup,
        "tokens_per_s": tokens / seconds,
        "params": sum(p.numel() for p in model.parameters()),
        "seconds": seconds,
    }
    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            for batch in batches[warmup : warmup + 5]:
                trainer.train_step([batch])
        result["profile"] = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--arch", nargs="+", default=["transformer_small"])
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--updates", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=4096)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(
        f"machine: {os.cpu_count()} cores, {cpu_name()}, GPU: {gpu}, "
        f"torch {torch.__version__}, threads {torch.get_num_threads()}"
    )
    print(
        f"config: data {args.data}, max-tokens {args.max_tokens}, label-smoothed CE 0.1, adam, inverse_sqrt; "
        f"{args.updates} timed updates after {args.warmup} warm-up updates"
    )
    precisions = runnable_precisions(args.precision, args.device)
    for arch in args.arch:
        for precision in precisions:
            r = measure(
                args.data, arch, precision, args.updates, args.warmup, args.max_tokens, args.profile, args.device
            )
            print(
                f"{arch:22s} {precision:5s} {r['params'] / 1e6:6.2f}M params  {r['tokens_per_s']:8.0f} target tokens/s "
                f"({r['updates']} updates in {r['seconds']:.1f} s)",
                flush=True,
            )
            if "profile" in r:
                print(r["profile"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS of this process, all runs): {peak:.0f} MiB")


if __name__ == "__main__":
    main()
