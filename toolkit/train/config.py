"""The trainer's own options (model, criterion, optimizer and schedule have theirs)."""

from __future__ import annotations

from dataclasses import dataclass, field

from toolkit.config import option

LOG_FORMATS = ("auto", "progress", "tqdm", "simple", "json", "none")


@dataclass
class TrainConfig:
    arch: str = option("transformer_small", "architecture or preset name", short="-a")
    criterion: str = field(default="label_smoothed_cross_entropy", metadata={"help": "training criterion"})
    optimizer: str = field(default="adam", metadata={"help": "optimizer"})
    lr_scheduler: str = field(default="inverse_sqrt", metadata={"help": "learning-rate schedule"})
    task: str = field(default="translation", metadata={"help": "task"})
    save_dir: str = field(default="checkpoints", metadata={"help": "where checkpoints and the training log go"})
    max_tokens: int | None = field(default=4096, metadata={"help": "batch size in (padded) tokens"})
    max_sentences: int | None = option(None, "batch size cap in sentences", aliases=("--batch-size",))
    update_freq: int = field(default=1, metadata={"help": "accumulate gradients over N batches per update"})
    max_epoch: int = field(default=0, metadata={"help": "stop after this epoch (0: no limit)"})
    max_update: int = field(default=0, metadata={"help": "stop after this many updates (0: no limit)"})
    stop_time_minutes: float = field(
        default=0.0, metadata={"help": "stop (and save) after this much training time (0: no limit)"}
    )
    clip_norm: float = field(default=0.0, metadata={"help": "clip gradients to this global norm (0: off)"})
    seed: int = field(default=1, metadata={"help": "random seed (batch order, initialisation, dropout)"})
    bf16: bool = field(default=False, metadata={"help": "bf16 autocast (CPU AMX or GPU)"})
    fp16: bool = field(default=False, metadata={"help": "fp16 with dynamic loss scaling (GPU only)"})
    device: str = field(default="auto", metadata={"help": "cpu, cuda, cuda:N or auto"})
    threads: int = field(default=0, metadata={"help": "CPU threads for torch (0: torch's default)"})
    validate_interval_updates: int = field(
        default=0, metadata={"help": "also validate every N updates (0: per epoch only)"}
    )
    save_interval: int = option(1, "write an epoch checkpoint every N epochs (checkpoint_last.pt: every epoch)")
    save_interval_updates: int = field(default=0, metadata={"help": "save checkpoint_E_U.pt every N updates (0: off)"})
    keep_last_epochs: int = field(default=-1, metadata={"help": "keep only the last N epoch checkpoints (-1: all)"})
    keep_interval_updates: int = field(
        default=-1, metadata={"help": "keep only the last N update checkpoints (-1: all)"}
    )
    no_save: bool = field(default=False, metadata={"help": "write no checkpoints"})
    no_epoch_checkpoints: bool = field(default=False, metadata={"help": "keep only checkpoint_last/best"})
    patience: int = field(
        default=-1, metadata={"help": "stop after N validations in a row without improvement (0 or -1: off)"}
    )
    restore_file: str = field(
        default="checkpoint_last.pt", metadata={"help": "checkpoint to start from (relative to --save-dir)"}
    )
    init_from: str | None = option(
        None,
        "start a fresh run from this checkpoint's weights (those whose name and shape match), with a new "
        "optimizer and schedule; a save dir holding checkpoint_last.pt resumes instead",
        aliases=("--finetune-from-model",),
        metavar="FILE",
    )
    init_from_map: str = option(
        "",
        "where --init-from finds what the checkpoint lacks under the model's own name: comma-separated "
        "MODEL=CKPT name prefixes, * for one component, e.g. 'decoder_layers.=encoder_layers.'; "
        "xlm: the decoder from the encoder, as XLM initializes it",
        metavar="RULES",
    )
    reset_optimizer: bool = field(
        default=False, metadata={"help": "load only the weights of --restore-file (fine-tuning)"}
    )
    best_checkpoint_metric: str = field(
        default="loss",
        metadata={"help": "validation metric for checkpoint_best.pt: loss, nll_loss, ppl or the task's own (bleu)"},
    )
    maximize_best_checkpoint_metric: bool = field(
        default=False, metadata={"help": "higher is better for the best metric"}
    )
    log_format: str = option(
        "auto",
        "auto (a progress bar on a terminal, else simple), progress (tqdm is the same), simple, json or none",
        choices=LOG_FORMATS,
    )
    no_progress_bar: bool = option(False, "no progress bar: --log-format auto becomes simple")
    tensorboard_logdir: str | None = option(
        None, "also write TensorBoard event files here (pip install 'nmt[tensorboard]')"
    )
    log_interval: int = field(default=100, metadata={"help": "updates between plain log lines"})
    max_nonfinite: int = field(default=5, metadata={"help": "stop after this many consecutive non-finite losses"})
    user_dir: str | None = field(
        default=None, metadata={"help": "import this module/package first (your own registrations)"}
    )

    def validate(self) -> None:
        """Reject nonsense values with a message naming the flag."""
        checks = [
            (self.max_tokens is None or self.max_tokens > 0, f"--max-tokens must be positive, got {self.max_tokens}"),
            (
                self.max_sentences is None or self.max_sentences > 0,
                f"--max-sentences must be positive, got {self.max_sentences}",
            ),
            (self.max_tokens is not None or self.max_sentences is not None, "give --max-tokens or --max-sentences"),
            (self.update_freq >= 1, f"--update-freq must be >= 1, got {self.update_freq}"),
            (self.max_epoch >= 0 and self.max_update >= 0, "--max-epoch and --max-update must be >= 0"),
            (self.clip_norm >= 0, f"--clip-norm must be >= 0, got {self.clip_norm}"),
            (not (self.bf16 and self.fp16), "--bf16 and --fp16 contradict each other; pick one"),
            (self.save_interval >= 1, f"--save-interval must be >= 1, got {self.save_interval}"),
            (self.log_interval > 0, f"--log-interval must be positive, got {self.log_interval}"),
            (self.max_nonfinite >= 1, f"--max-nonfinite must be >= 1, got {self.max_nonfinite}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        from toolkit.train.init_from import parse_mapping

        if parse_mapping(self.init_from_map) and not self.init_from:
            raise ValueError("--init-from-map needs --init-from")
        if self.init_from and self.restore_file != "checkpoint_last.pt":
            raise ValueError("--init-from starts a fresh run and --restore-file continues one; give one")
