"""The training loop: epochs, validation, checkpoints, early stopping, exact resume.

Resume is exact: the batch order of an epoch is a pure function of (seed, epoch), and a
checkpoint stores the position inside the epoch and every random state, so a run killed
and rerun produces the same later updates as one that was never interrupted.
"""

from __future__ import annotations

import math
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from toolkit.errors import UserError
from toolkit.fileio import atomic_path
from toolkit.hardware import usable_bf16
from toolkit.quantize.checkpoint import refuse_quantized
from toolkit.tasks.base import Batching
from toolkit.train import distributed, retention
from toolkit.train.checkpoint import load_checkpoint, save_checkpoint
from toolkit.train.memory import release_free_memory
from toolkit.train.progress import ProgressReporter
from toolkit.train.setup import TrainingSetup, build_components, resolve_device
from toolkit.train.trainer import Trainer


@dataclass
class Position:
    epoch: int = 1
    batch_in_epoch: int = 0
    best: float | None = None
    bad_validations: int = 0
    train_seconds: float = 0.0


@dataclass
class TrainSummary:
    best_checkpoint: Path | None
    best_value: float | None
    num_updates: int
    epoch: int
    stopped_by: str


class _StopFlag:
    """First Ctrl-C or SIGTERM asks the loop to save and stop; a second Ctrl-C aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class TrainingRun:
    def __init__(self, setup: TrainingSetup) -> None:
        cfg = setup.train
        self.setup, self.cfg = setup, cfg
        torch.manual_seed(cfg.seed)
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        self.device = resolve_device(cfg.device)
        if cfg.fp16 and self.device.type != "cuda":
            raise UserError("--fp16 needs a GPU; on the CPU use --bf16")
        cfg.bf16 = usable_bf16(cfg.bf16, self.device)  # before the config is recorded in checkpoints
        self.dist = distributed.from_environment(self.device)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        # Before the model and data: a missing tensorboard package fails before any work.
        main = self.dist.is_main
        log_format = "simple" if cfg.no_progress_bar and cfg.log_format == "auto" else cfg.log_format
        self.reporter = ProgressReporter(
            log_format if main else "none",
            cfg.log_interval,
            None if cfg.no_save or not main else Path(cfg.save_dir) / "train_log.jsonl",
            cfg.tensorboard_logdir if main else None,
        )
        try:
            self._build(setup)
        except BaseException:  # a failed start closes what it opened (the TensorBoard writer)
            self.reporter.close()
            raise

    def _build(self, setup: TrainingSetup) -> None:
        cfg = setup.train
        self.task, self.model, self.criterion, self.optimizer, self.scheduler = build_components(setup, self.device)
        # Every rank builds the same initial model from the seed; DDP also broadcasts rank 0's.
        parallel_model = distributed.DataParallelModel(self.model, self.device) if self.dist.enabled else None
        if cfg.best_checkpoint_metric == "bleu" and not cfg.maximize_best_checkpoint_metric:
            raise UserError("--best-checkpoint-metric bleu: higher is better; add --maximize-best-checkpoint-metric")
        metrics = self.task.valid_metrics()
        if cfg.best_checkpoint_metric not in metrics:
            raise UserError(
                f"--best-checkpoint-metric {cfg.best_checkpoint_metric}: validation reports "
                f"{', '.join(metrics)}" + (" (bleu needs --eval-bleu)" if cfg.best_checkpoint_metric == "bleu" else "")
            )
        self.trainer = Trainer(
            self.model,
            self.criterion,
            self.optimizer,
            self.scheduler,
            self.device,
            cfg.bf16,
            cfg.fp16,
            cfg.clip_norm,
            cfg.max_nonfinite,
            self.dist,
            parallel_model,
            self.task,
        )
        self.batching = Batching(cfg.max_tokens, cfg.max_sentences, self.model.max_positions(), cfg.seed)
        self.save_dir = Path(cfg.save_dir)
        self.save_dir.mkdir(parents=True, exist_ok=True)
        self.position = Position()
        # What the checkpoint needs to translate (languages, dictionaries, preprocessing), from the task.
        self.static_state = {"config": setup.to_dict(), **self.task.checkpoint_data().to_state()}

    # --- checkpoints -----------------------------------------------------------------
    def _state(self) -> dict:
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        p = self.position
        return dict(
            self.static_state,
            model=self.model.state_dict(),
            optimizer=self.optimizer.state_dict(),
            lr_scheduler=self.scheduler.state_dict(),
            trainer_state={
                "epoch": p.epoch,
                "batch_in_epoch": p.batch_in_epoch,
                "best": p.best,
                "bad_validations": p.bad_validations,
                "train_seconds": p.train_seconds,
                "trainer": self.trainer.state_dict(),
                "task": self.task.state_dict(),
                "rng": rng,
            },
        )

    def restore(self) -> None:
        if self.dist.is_main:
            # A kill -9 during a write leaves its temporary file (never a torn checkpoint): tidy up.
            for stale in self.save_dir.glob(".checkpoint*.pt.*.tmp"):
                stale.unlink(missing_ok=True)
        self._restore()
        if self.dist.enabled:
            # Ranks need different dropout noise; a resumed rank continues from a seed of its update.
            torch.manual_seed(self.cfg.seed + 1_000_003 * self.dist.rank + self.trainer.num_updates)

    def _restore(self) -> None:
        cfg = self.cfg
        path = Path(cfg.restore_file)
        if cfg.restore_file == "checkpoint_last.pt" or (not path.is_absolute() and not path.exists()):
            path = self.save_dir / cfg.restore_file
        if not path.exists():
            if cfg.restore_file != "checkpoint_last.pt":
                raise UserError(f"--restore-file not found: {cfg.restore_file}")
            if cfg.init_from:  # a fresh run only: once it has saved, rerunning the command resumes it
                from toolkit.train.init_from import initialize_from

                self.reporter.message(initialize_from(self.model, cfg.init_from, cfg.init_from_map).summary())
            return
        state = load_checkpoint(path)
        refuse_quantized(state, path, "--restore-file needs a training (float) checkpoint")
        try:
            self.model.load_state_dict(state["model"])
        except (RuntimeError, KeyError) as error:
            first = str(error).strip().splitlines()[0][:160]
            raise UserError(
                f"{path}: incompatible checkpoint for --arch {cfg.arch} ({first}); "
                "use another --save-dir or --restore-file"
            ) from None
        if cfg.reset_optimizer:
            self.reporter.message(f"loaded weights from {path} (optimizer and counters reset)")
            return
        if not state.get("optimizer") or not state.get("trainer_state"):
            raise UserError(
                f"{path} holds weights only (an averaged or inference checkpoint); "
                "add --reset-optimizer to start training from it"
            )
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["lr_scheduler"])
        except (ValueError, KeyError) as error:
            raise UserError(
                f"{path}: optimizer or schedule state does not fit --optimizer {cfg.optimizer} / "
                f"--lr-scheduler {cfg.lr_scheduler} ({error}); add --reset-optimizer"
            ) from None
        ts = state["trainer_state"]
        self.trainer.load_state_dict(ts["trainer"])
        self.task.load_state_dict(ts.get("task") or {})
        self.position = Position(
            ts["epoch"], ts["batch_in_epoch"], ts["best"], ts["bad_validations"], ts["train_seconds"]
        )
        torch.set_rng_state(ts["rng"]["torch"])
        if "cuda" in ts["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ts["rng"]["cuda"])
        self.reporter.message(
            f"resumed from {path}: epoch {self.position.epoch}, "
            f"{self.position.batch_in_epoch} batches in, update {self.trainer.num_updates}"
        )

    def save(self, end_of_epoch: bool, improved: bool) -> None:
        """Rank 0 writes; the others wait for it, so every rank resumes from the same file."""
        if not self.cfg.no_save and self.dist.is_main:
            self._write_checkpoints(end_of_epoch, improved)
        # Validation and the checkpoint's serialization have just freed what they allocated: hand
        # the free heap pages back to the OS (glibc keeps them otherwise).
        release_free_memory()
        self.dist.barrier()

    def _write_checkpoints(self, end_of_epoch: bool, improved: bool) -> None:
        last = self.save_dir / "checkpoint_last.pt"
        save_checkpoint(self._state(), last)
        copies = []
        epoch = self.position.epoch - 1 if end_of_epoch else self.position.epoch
        if end_of_epoch and not self.cfg.no_epoch_checkpoints and epoch % self.cfg.save_interval == 0:
            copies.append(retention.epoch_checkpoint_name(epoch))
        updates = self.trainer.num_updates
        if not end_of_epoch and self.cfg.save_interval_updates and updates % self.cfg.save_interval_updates == 0:
            copies.append(retention.update_checkpoint_name(epoch, updates))
        if improved:
            copies.append("checkpoint_best.pt")
        for name in copies:
            with atomic_path(self.save_dir / name) as tmp:
                shutil.copyfile(last, tmp)
        for path in retention.to_delete(
            retention.epoch_checkpoints(self.save_dir), self.cfg.keep_last_epochs
        ) + retention.to_delete(retention.update_checkpoints(self.save_dir), self.cfg.keep_interval_updates):
            path.unlink(missing_ok=True)

    # --- validation ------------------------------------------------------------------
    def validate(self, epoch: int | None = None) -> tuple[dict, bool]:
        plan = self.task.valid_plan(self.batching)
        mine = plan.batches[self.dist.rank :: self.dist.world_size]
        logs = self.trainer.valid_logs([self.task.batch(ref, train=False) for ref in mine])
        stats = self.task.reduce_logs(logs, self.criterion)
        for line in stats.pop("messages", []):
            self.reporter.message(line)
        value = stats[self.cfg.best_checkpoint_metric]
        improved = retention.is_better(value, self.position.best, self.cfg.maximize_best_checkpoint_metric)
        if improved:
            self.position.best, self.position.bad_validations = value, 0
        else:
            self.position.bad_validations += 1
        self.reporter.event(
            {
                "type": "valid",
                "epoch": epoch or self.position.epoch,
                "update": self.trainer.num_updates,
                **_figures(stats),
                "best_" + self.cfg.best_checkpoint_metric: self.position.best,
            }
        )
        return stats, improved

    # --- the loop --------------------------------------------------------------------
    _REASONS = ("interrupted", "max_update", "stop_time", "patience")

    def _stop_reason(self, stop: _StopFlag) -> str | None:
        cfg, p = self.cfg, self.position
        self._sync_time()
        flags = [
            stop.requested,
            bool(cfg.max_update and self.trainer.num_updates >= cfg.max_update),
            bool(cfg.stop_time_minutes and p.train_seconds >= cfg.stop_time_minutes * 60),
            cfg.patience > 0 and p.bad_validations >= cfg.patience,
        ]
        # Ranks must agree (a signal or the clock may reach them at different updates).
        flags = self.dist.all_reduce([float(f) for f in flags], op="max")
        return next((reason for reason, flag in zip(self._REASONS, flags, strict=True) if flag), None)

    def _sync_time(self) -> None:
        """Training time so far, carried across resumes for --stop-time-minutes."""
        now = time.perf_counter()
        self.position.train_seconds += now - self._clock
        self._clock = now

    def _epoch_plan(self, epoch: int) -> list:
        plan = self.task.epoch_plan(epoch, self.batching)
        if not plan.batches:
            raise UserError(
                f"no training sentence fits --max-tokens {self.cfg.max_tokens} "
                f"and the model's maximum length {self.model.max_positions()}"
            )
        if plan.skipped and not self._warned_skips:
            self._warned_skips = True
            self.reporter.message(
                f"warning: skipping {plan.skipped} training sentences longer than "
                f"--max-tokens {self.cfg.max_tokens} or the model's maximum positions"
            )
        return plan.batches

    def run(self) -> TrainSummary:
        cfg = self.cfg
        self.restore()
        self._clock = time.perf_counter()
        self._warned_skips = False
        params = sum(p.numel() for p in self.model.parameters())
        data = self.task.describe_training()  # also checks, before any work, that the data is there
        self.reporter.message(
            f"model {cfg.arch}: {params:,} parameters; training on {self.device}"
            f"{' (bf16)' if cfg.bf16 else ' (fp16)' if cfg.fp16 else ''}; {data}"
        )
        stopped_by = "max_epoch"
        with _StopFlag() as stop:
            while not cfg.max_epoch or self.position.epoch <= cfg.max_epoch:
                stopped_by = self._stop_reason(stop) or self._run_epoch(stop)
                if stopped_by != "end_of_epoch":
                    break
                stopped_by = "max_epoch"
        self.reporter.end_epoch()
        best = self.save_dir / "checkpoint_best.pt"
        summary = TrainSummary(
            best if best.exists() else None,
            self.position.best,
            self.trainer.num_updates,
            self.position.epoch,
            stopped_by,
        )
        if summary.best_checkpoint and self.position.best is not None:
            where = f"{best} (valid {cfg.best_checkpoint_metric} {self.position.best:.4f})"
        else:
            where = "none written"
        self.reporter.message(f"done ({stopped_by}) after {self.trainer.num_updates} updates; best checkpoint: {where}")
        return summary

    def _run_epoch(self, stop: _StopFlag) -> str:
        cfg, p = self.cfg, self.position
        batches = self._epoch_plan(p.epoch)
        per_update = cfg.update_freq * self.dist.world_size
        if self.dist.enabled:  # every rank needs a full share: the tail of the plan waits for the next epoch
            batches = batches[: len(batches) // per_update * per_update]
        self.reporter.begin_epoch(p.epoch, math.ceil(len(batches) / per_update), p.batch_in_epoch // per_update)
        last_log = time.perf_counter()
        while p.batch_in_epoch < len(batches):
            reason = self._stop_reason(stop)
            if reason:
                return self._finish_midway(reason)
            group = batches[p.batch_in_epoch : p.batch_in_epoch + per_update]
            mine = self.dist.my_batches(group, cfg.update_freq)
            result = self.trainer.train_step([self.task.batch(ref, train=True) for ref in mine])
            p.batch_in_epoch += len(group)
            if result.skipped:
                self.reporter.message(
                    f"warning: update {self.trainer.num_updates + 1} skipped (non-finite loss or gradient)"
                )
                continue
            now = time.perf_counter()
            self._log_update(result, now - last_log)
            last_log = now
            updates, in_epoch = self.trainer.num_updates, p.batch_in_epoch < len(batches)
            improved = False
            if in_epoch and cfg.validate_interval_updates and updates % cfg.validate_interval_updates == 0:
                _, improved = self.validate()
            if in_epoch and cfg.save_interval_updates and updates % cfg.save_interval_updates == 0:
                self._sync_time()
                self.save(end_of_epoch=False, improved=improved)
        p.epoch += 1
        p.batch_in_epoch = 0
        self.reporter.end_epoch()
        stats, improved = self.validate(epoch=p.epoch - 1)
        self.scheduler.step_epoch(p.epoch - 1, stats["loss"])
        self._sync_time()
        self.save(end_of_epoch=True, improved=improved)
        return "end_of_epoch"

    def _log_update(self, result, seconds: float) -> None:
        stats = self.task.reduce_logs(result.logs, self.criterion)
        stats.pop("messages", None)
        seconds = max(seconds, 1e-9)
        self.reporter.update(
            {
                "type": "train",
                "epoch": self.position.epoch,
                "update": self.trainer.num_updates,
                **_figures(stats),
                "wps": stats["ntokens"] / seconds,
                "ups": 1.0 / seconds,
                "lr": self.scheduler.lr,
                "gnorm": result.grad_norm,
            }
        )

    def _finish_midway(self, reason: str) -> str:
        self.reporter.end_epoch()
        improved = False
        if reason != "interrupted":
            _, improved = self.validate()
        self._sync_time()
        self.save(end_of_epoch=False, improved=improved)
        if reason == "interrupted":
            self.reporter.message("interrupted: saved checkpoint_last.pt; rerun the same command to resume")
        return reason


def _figures(stats: dict) -> dict:
    """What a log line shows of the task's reduced figures: loss, nll_loss, ppl first, then its own."""
    first = {key: stats[key] for key in ("loss", "nll_loss", "ppl") if key in stats}
    rest = {key: value for key, value in stats.items() if key not in first and key != "ntokens"}
    return {**first, **rest}


def train(setup: TrainingSetup) -> TrainSummary:
    run = TrainingRun(setup)
    try:
        return run.run()
    finally:
        run.reporter.close()
        distributed.shutdown(run.dist)
