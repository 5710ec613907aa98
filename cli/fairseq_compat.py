"""fairseq flags that have no nmt option: taken with a one-line note, rewritten, or refused in one line.

fairseq spellings that nmt implements (`--batch-size`, `--remove-bpe`, `--save-interval`, ...) are
ordinary options of the config dataclasses, declared there as aliases. This table holds the rest,
so a command copied from fairseq's documentation never meets a bare "unrecognized arguments":
it either runs, with a note saying what nmt does instead, or stops with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from toolkit.errors import UserError
from toolkit.errors import note as note_line


@dataclass(frozen=True)
class Flag:
    takes_value: bool
    meaning: str  # what nmt does instead (a note), or why it refuses
    action: str = "note"  # note: drop it and say so; refuse: stop; rewrite: replace it silently
    replacement: tuple[str, ...] = ()
    convert: Callable[[str], list[str]] | None = None  # the value -> nmt's words (instead of replacement)
    optional_values: tuple[str, ...] = ()  # values the flag may take (consumed, meaning what the bare flag means)
    applies: Callable[[list[str]], bool] | None = None  # only when this holds of the whole command line


def _hours_to_minutes(value: str) -> list[str]:
    try:
        return ["--stop-time-minutes", repr(float(value) * 60)]
    except ValueError:
        raise UserError(f"--stop-time-hours: {value!r} is not a number") from None


_MMAP = Flag(True, "nmt always writes and reads memory-mapped datasets; ignored")
_WORKERS = Flag(True, "nmt reads memory-mapped batches in its own process; ignored")
_PADDING = Flag(True, "nmt pads on the right and masks the padding; ignored")
_FP16_SEARCH = Flag(
    False, "nmt runs inference in bfloat16 instead (--bf16; fp32 where the CPU has no native bf16)",
    action="note", replacement=("--bf16",),
)  # fmt: skip

_NO_BAR = Flag(False, "there is no progress bar to turn off here (one is drawn only on a terminal); ignored")
_LOG = Flag(True, "this command has no training log to format; ignored")


def _not_cosine(argv: list[str]) -> bool:
    return not any(w == "cosine" or w == "--lr-scheduler=cosine" for w in argv)


_COMMON = {
    "--dataset-impl": _MMAP,
    "--num-workers": _WORKERS,
    "--wandb-project": Flag(True, "nmt logs to SAVE_DIR/train_log.jsonl and --tensorboard-logdir; ignored"),
    "--tpu": Flag(False, "nmt runs on CPUs and CUDA GPUs only", action="refuse"),
}

FLAGS: dict[str, dict[str, Flag]] = {
    "preprocess": {
        **_COMMON,
        "--no-progress-bar": _NO_BAR,
        "--log-format": _LOG,
        "--log-interval": _LOG,
        "--align-suffix": Flag(True, "word alignments are not supported by nmt preprocess", action="refuse"),
        "--dict-only": Flag(False, "nmt preprocess always binarizes; --dict-only is not supported", action="refuse"),
    },
    "train": {
        **_COMMON,
        "--ddp-backend": Flag(True, "nmt uses torch DistributedDataParallel under torchrun; ignored"),
        "--distributed-world-size": Flag(True, "start one process per device with torchrun instead; ignored"),
        "--required-batch-size-multiple": Flag(True, "nmt does not round batch sizes; ignored"),
        "--left-pad-source": _PADDING,
        "--left-pad-target": _PADDING,
        "--skip-invalid-size-inputs-valid-test": Flag(
            False, "nmt always skips (and counts) sentences too long for the model; nothing to do"
        ),
        "--fp16-no-flatten-grads": Flag(False, "nmt's --fp16 keeps fp32 master weights; ignored"),
        "--memory-efficient-fp16": Flag(
            False, "there is no memory-efficient fp16 in nmt; use --fp16 (GPU) or --bf16", action="refuse"
        ),
        "--reset-lr-scheduler": Flag(
            False, "use --reset-optimizer (it resets optimizer, schedule and counters together)", action="refuse"
        ),
        "--reset-dataloader": Flag(
            False, "use --reset-optimizer (it resets optimizer, schedule and counters together)", action="refuse"
        ),
        "--reset-meters": Flag(False, "nmt keeps no meters in checkpoints; nothing to reset"),
        "--min-lr": Flag(
            True,
            "fairseq stops training once the lr falls below --min-lr; nmt has no such stop (its --min-lr "
            "is the cosine schedule's floor); ignored",
            applies=_not_cosine,
        ),
        "--stop-time-hours": Flag(
            True, "taken as --stop-time-minutes (hours x 60)", action="rewrite", convert=_hours_to_minutes
        ),
    },  # fmt: skip
    "generate": {
        **_COMMON,
        "--fp16": _FP16_SEARCH,
        "--sacrebleu": Flag(
            False, "taken as --scoring sacrebleu", action="rewrite", replacement=("--scoring", "sacrebleu")
        ),
        "--skip-invalid-size-inputs-valid-test": Flag(
            False, "nmt translates every sentence (and names one too long for the model); nothing to skip"
        ),
        "--bpe": Flag(
            True,
            "generate undoes the segmentation the checkpoint records (subword-nmt's @@ markers, or characters) "
            "in D- and T- lines in any case; ignored",
        ),
        "--bpe-codes": Flag(True, "generate needs no codes to remove BPE markers; ignored"),
        "--log-format": _LOG,
        "--log-interval": _LOG,
        "--print-alignment": Flag(
            False,
            "fairseq's optional value hard is the default (soft is refused)",
            action="rewrite",
            replacement=("--print-alignment",),
            optional_values=("hard",),
        ),
        "--left-pad-source": _PADDING,
        "--print-step": Flag(False, "not supported by nmt generate", action="refuse"),
        "--unnormalized": Flag(
            False,
            "taken as --lenpen 0 (raw sums of log-probabilities)",
            action="rewrite",
            replacement=("--lenpen", "0"),
        ),
        "--model-overrides": Flag(True, "not supported: a checkpoint carries its whole configuration", action="refuse"),
        "--prefix-size": Flag(True, "prefix-constrained search is not supported", action="refuse"),
        "--diverse-beam-groups": Flag(True, "diverse beam search is not supported", action="refuse"),
    },
    "translate": {
        **_COMMON,
        "--no-progress-bar": _NO_BAR,
        "--log-format": _LOG,
        "--fp16": _FP16_SEARCH,
        "--left-pad-source": _PADDING,
        "--model-overrides": Flag(True, "not supported: a checkpoint carries its whole configuration", action="refuse"),
    },
    "score": {
        "--no-progress-bar": _NO_BAR,
        "--sacrebleu": Flag(False, "nmt score always scores with sacreBLEU; nothing to change", action="rewrite"),
    },
}
FLAGS["interactive"] = FLAGS["translate"]


def apply(command: str, argv: list[str], note: Callable[[str], None] = note_line) -> list[str]:
    """argv with the table's fairseq flags noted, rewritten or refused (UserError)."""
    table = FLAGS.get(command, {})
    out: list[str] = []
    rewritten: list[str] = []  # after everything else, so a rewrite wins as its fairseq flag does
    index = 0
    while index < len(argv):
        word = argv[index]
        name, has_inline, _ = word.partition("=")
        flag = table.get(name) if word.startswith("--") else None
        if flag is not None and flag.applies is not None and not flag.applies(argv):
            flag = None
        if flag is None:
            out.append(word)
            index += 1
            continue
        consumed = 1
        value = word.partition("=")[2] if has_inline else None
        if flag.takes_value and not has_inline and index + 1 < len(argv):
            consumed, value = 2, argv[index + 1]
        elif flag.optional_values and not has_inline and index + 1 < len(argv) and not argv[index + 1].startswith("-"):
            consumed, value = 2, argv[index + 1]
        if flag.optional_values and value is not None and value not in flag.optional_values:
            raise UserError(f"{name} {value}: nmt supports only {', '.join(flag.optional_values)}")
        if flag.action == "refuse":
            raise UserError(f"{name}: {flag.meaning}")
        if flag.action == "note":
            note(f"{command}: {name} is fairseq's; {flag.meaning}")
        if flag.convert is not None:
            if value is None:
                raise UserError(f"{name}: expected one argument")
            rewritten.extend(flag.convert(value))
        else:
            rewritten.extend(flag.replacement)
        index += consumed
    return out + rewritten


# The flags of fairseq's translation documentation (getting started, the command-line tools page, the
# translation, scaling-NMT and back-translation examples), by subcommand: what `benchmarks/fairseq_flags.py`
# classifies and the README's table lists.
DOCUMENTED: dict[str, str] = {
    "preprocess": "--source-lang --target-lang --trainpref --validpref --testpref --destdir --workers "
    "--joined-dictionary --srcdict --tgtdict --only-source --thresholdsrc --thresholdtgt --nwordssrc --nwordstgt "
    "--padding-factor --dataset-impl --align-suffix --dict-only",
    "train": "--arch --task --source-lang --target-lang --share-decoder-input-output-embed --share-all-embeddings "
    "--encoder-layers --decoder-layers --encoder-embed-dim --decoder-embed-dim --encoder-ffn-embed-dim "
    "--decoder-ffn-embed-dim --encoder-attention-heads --decoder-attention-heads --encoder-normalize-before "
    "--decoder-normalize-before --encoder-learned-pos --decoder-learned-pos --activation-fn --dropout "
    "--attention-dropout --activation-dropout --optimizer --adam-betas --adam-eps --momentum --weight-decay "
    "--clip-norm --lr --lr-scheduler --warmup-updates --warmup-init-lr --lr-shrink --min-lr --criterion "
    "--label-smoothing --max-tokens --batch-size --max-sentences --update-freq --max-epoch --max-update "
    "--stop-time-hours --save-dir --save-interval --save-interval-updates --keep-last-epochs "
    "--keep-interval-updates --no-epoch-checkpoints --no-save --restore-file --reset-optimizer "
    "--reset-lr-scheduler --reset-dataloader --reset-meters --finetune-from-model --patience --seed --fp16 --bf16 "
    "--memory-efficient-fp16 --log-interval --log-format --no-progress-bar --tensorboard-logdir --user-dir "
    "--best-checkpoint-metric --maximize-best-checkpoint-metric --eval-bleu --eval-bleu-args --eval-bleu-detok "
    "--eval-bleu-remove-bpe --eval-bleu-print-samples --upsample-primary --skip-invalid-size-inputs-valid-test "
    "--ddp-backend --distributed-world-size --num-workers --dataset-impl",
    "generate": "--path --gen-subset --batch-size --max-sentences --max-tokens --beam --nbest --lenpen --unkpen "
    "--remove-bpe --quiet --results-path --sampling --sampling-topk --sampling-topp --temperature --max-len-a "
    "--max-len-b --min-len --no-repeat-ngram-size --score-reference --print-alignment --scoring --sacrebleu "
    "--source-lang --target-lang --tokenizer --bpe --bpe-codes --cpu --fp16 --seed --no-progress-bar --log-format "
    "--skip-invalid-size-inputs-valid-test --num-workers --dataset-impl --unnormalized --print-step "
    "--model-overrides --prefix-size --diverse-beam-groups",
    "interactive": "--path --input --buffer-size --batch-size --max-tokens --beam --nbest --lenpen --remove-bpe "
    "--source-lang --target-lang --tokenizer --bpe --bpe-codes --sampling --sampling-topk --temperature "
    "--max-len-a --max-len-b --seed --cpu --fp16 --no-progress-bar",
    "score": "--sys --ref --order --ignore-case --sacrebleu --sentence-bleu",
}


def classify(command: str, flag: str, options: set[str], elsewhere: dict[str, str] | None = None) -> tuple[str, str]:
    """(accepted | accepted with a note | refused | unknown, what nmt does) for one fairseq flag.

    options: what the subcommand's default parser accepts; elsewhere: flag -> the components
    (e.g. "--optimizer nag") whose options include it.
    """
    entry = FLAGS.get(command, {}).get(flag)
    if entry is not None:
        if entry.action == "refuse":
            return "refused", entry.meaning
        if entry.action == "rewrite":
            meaning = entry.meaning or (f"taken as {' '.join(entry.replacement)}" if entry.replacement else "no-op")
            return "accepted", meaning
        return "accepted with a note", entry.meaning
    if flag in options:
        return "accepted", "an nmt option"
    if elsewhere and flag in elsewhere:
        return "accepted", f"an nmt option with {elsewhere[flag]}"
    return "unknown", ""
