"""Training throughput (target tokens/s) and peak memory on a preprocessed data directory.

Usage:
    python benchmarks/train_throughput.py DATA_DIR [--arch transformer_small] [--updates 300]
        [--precision fp32 bf16] [--max-tokens 4096] [--optimizer adam|nag] [--profile]
        [--baseline REF [--rounds 3]]

Runs the real Trainer (label-smoothed cross-entropy 0.1, inverse_sqrt warmup) through the task's
training step over the first batches of epoch 1, skipping the first updates as warm-up. The optimizer
is adam (lr 5e-4), or with --optimizer nag fairseq's ConvS2S configuration: NAG lr 0.25, momentum 0.99,
--clip-norm 0.1 (the reference `fconv_iwslt_de_en` figures of issue 18 use it).

--baseline REF measures this checkout against git revision REF in the same run: REF is
checked out in a temporary worktree and the two take turns (REF, this, REF, this, ...), each
in a fresh process, so drift in the machine's speed falls on both alike.
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
from toolkit.optim.lr_schedulers import InverseSqrtConfig  # noqa: E402
from toolkit.optim.optimizers import AdamConfig, NAGConfig  # noqa: E402
from toolkit.registry import ARCHITECTURES  # noqa: E402
from toolkit.tasks.base import Batching  # noqa: E402
from toolkit.tasks.translation import TranslationConfig  # noqa: E402
from toolkit.train.config import TrainConfig  # noqa: E402
from toolkit.train.setup import TrainingSetup, build_components  # noqa: E402
from toolkit.train.trainer import Trainer  # noqa: E402


def measure(
    data: str,
    arch: str,
    precision: str,
    updates: int,
    warmup: int,
    max_tokens: int,
    profile: bool,
    device: str,
    optimizer_name: str = "adam",
) -> dict:
    _, model_config = ARCHITECTURES.resolve(arch)
    nag = optimizer_name == "nag"
    setup = TrainingSetup(
        train=TrainConfig(
            arch=arch,
            max_tokens=max_tokens,
            bf16=precision == "bf16",
            fp16=precision == "fp16",
            device=device,
            optimizer=optimizer_name,
            clip_norm=0.1 if nag else 0.0,
        ),
        task=TranslationConfig(data=data),
        model=model_config,
        criterion=LabelSmoothedCrossEntropyConfig(0.1),
        optimizer=NAGConfig(lr=0.25, momentum=0.99) if nag else AdamConfig(lr=5e-4),
        lr_scheduler=InverseSqrtConfig(warmup_updates=4000),
    )
    torch.manual_seed(1)
    dev = torch.device(device)
    task, model, criterion, optimizer, scheduler = build_components(setup, dev)
    trainer = Trainer(
        model,
        criterion,
        optimizer,
        scheduler,
        dev,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        task=task,
        clip_norm=setup.train.clip_norm,
    )
    plan = task.epoch_plan(1, Batching(max_tokens, None, model.max_positions(), seed=1))
    batches = [task.batch(ref, train=True) for ref in plan.batches[: warmup + updates]]
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


def compare_with(ref: str, args: argparse.Namespace) -> None:
    """This checkout against git revision `ref`, alternating fresh processes; medians and their ratio."""
    import statistics
    import subprocess
    import tempfile

    repo = Path(__file__).resolve().parents[1]
    common = [args.data, "--arch", args.arch[0], "--precision", args.precision[0], "--updates", str(args.updates),
              "--warmup", str(args.warmup), "--max-tokens", str(args.max_tokens), "--device", args.device,
              "--optimizer", args.optimizer]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="nmt-baseline-") as tmp:
        worktree = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", "-q", str(worktree), ref], check=True)
        try:
            figures: dict[str, list[float]] = {ref: [], "this checkout": []}
            for round_ in range(1, args.rounds + 1):
                for name, root in ((ref, worktree), ("this checkout", repo)):
                    out = subprocess.run(
                        [sys.executable, str(root / "benchmarks" / "train_throughput.py"), *common],
                        capture_output=True, text=True, check=True, cwd=root,
                    ).stdout  # fmt: skip
                    line = next(x for x in out.splitlines() if "target tokens/s" in x)
                    figures[name].append(float(line.split("params")[1].split("target")[0]))
                    print(f"round {round_}: {name:14s} {figures[name][-1]:8.0f} target tokens/s", flush=True)
        finally:
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(worktree)], check=False)
    before, after = (statistics.median(figures[k]) for k in (ref, "this checkout"))
    print(f"median: {ref} {before:.0f}, this checkout {after:.0f} target tokens/s ({after / before - 1:+.1%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--arch", nargs="+", default=["transformer_small"])
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--updates", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=4096)
    parser.add_argument("--optimizer", choices=["adam", "nag"], default="adam")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--baseline", metavar="REF", help="also measure git revision REF, taking turns")
    parser.add_argument("--rounds", type=int, default=3, help="turns each with --baseline")
    args = parser.parse_args()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(
        f"machine: {os.cpu_count()} cores, {cpu_name()}, GPU: {gpu}, "
        f"torch {torch.__version__}, threads {torch.get_num_threads()}"
    )
    print(
        f"config: data {args.data}, max-tokens {args.max_tokens}, label-smoothed CE 0.1, "
        f"{'nag lr 0.25, clip-norm 0.1' if args.optimizer == 'nag' else 'adam'}, inverse_sqrt; "
        f"{args.updates} timed updates after {args.warmup} warm-up updates"
    )
    if args.baseline:
        compare_with(args.baseline, args)
        return
    precisions = runnable_precisions(args.precision, args.device)
    for arch in args.arch:
        for precision in precisions:
            r = measure(
                args.data,
                arch,
                precision,
                args.updates,
                args.warmup,
                args.max_tokens,
                args.profile,
                args.device,
                args.optimizer,
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
