"""`nmt generate` as a function: translate a binarized split and report BLEU and speed."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
import torch

from toolkit.config import option
from toolkit.data.tokenize import TOKENIZERS
from toolkit.errors import UserError, note
from toolkit.fileio import atomic_open
from toolkit.search.config import SearchConfig, bpe_marker
from toolkit.search.generator import SequenceGenerator
from toolkit.search.loading import QUANTIZATIONS, InferenceModels, inference_bf16, load_models, pick_device
from toolkit.search.output import Postprocessor, sentence_lines
from toolkit.search.scorer import score_targets

SCORINGS = ("sacrebleu", "bleu", "chrf")


@dataclass
class GenerateConfig:
    """Every `nmt generate` option but the search's own (SearchConfig)."""

    data: str = option(help="a `nmt preprocess` destination directory", positional=True)
    path: str = option(help="checkpoint file; several separated by ':' form an ensemble", metavar="FILE")
    search: SearchConfig = field(default_factory=SearchConfig)
    gen_subset: str = option("test", "split to translate: test, valid, test1, ...")
    source_only: bool = option(
        False,
        "translate only the source text of the split: its monolingual split SPLIT.SRC-None.SRC when there "
        "is one, else the source side of the parallel split (no references, no BLEU)",
    )
    batch_size: int | None = option(None, "maximum sentences per batch", aliases=("--max-sentences",))
    max_tokens: int | None = option(12000, "maximum padded source tokens per batch")
    remove_bpe: str | None = option(
        "@@ ",
        "BPE marker to remove in S-/H- lines; bare --remove-bpe means '@@ ', 'none' keeps BPE, characters "
        "undoes --bpe characters (which '@@ ' means on a side preprocessed so)",
        const="@@ ",
    )
    scoring: str = option(
        "sacrebleu",
        "sacrebleu: sacreBLEU on detokenized text; bleu: fairseq's BLEU-4 on the tokenized hypotheses "
        "(H- lines against the tokenized references); chrf: chrF on detokenized text",
        choices=SCORINGS,
    )
    score_reference: bool = option(False, "score the references instead of searching")
    results_path: str | None = option(None, "write generate-SUBSET.txt here (atomically)")
    seed: int = option(1, "random seed (sampling)")
    bf16: bool = option(
        False, "run the model under bfloat16 autocast (ignored, with a note, for int8 models: see --quantize)"
    )
    cpu: bool = option(False, "use the CPU even if CUDA is available")
    user_dir: str | None = option(
        None, "import this module or package first: the tasks and architectures a checkpoint was trained with"
    )
    quantize: str | None = option(
        None,
        "int8: run the linear layers, recurrent cells and vocabulary projection with int8 weights "
        "(per-channel scales) on the CPU (implies --cpu; --bf16 is then ignored); an int8 checkpoint "
        "from nmt quantize runs in int8 without it",
        choices=QUANTIZATIONS,
    )
    print_alignment: bool = option(False, "print A- lines (argmax attention)")
    plot_attention: str | None = option(None, "write attention heatmaps (PNG) here; needs matplotlib")
    plot_limit: int = option(20, "plot only sentences with id below this")
    quiet: bool = option(False, "print only the summary", short="-q")
    no_progress_bar: bool = option(False, "no progress bar (there is none when stderr is not a terminal)")
    tokenizer: str | None = option(
        None, "detokenizer of the D- and T- lines (default: the checkpoint's tokenizer)", choices=TOKENIZERS
    )
    source_lang: str = option("", "source language (default: the checkpoint's)", short="-s")
    target_lang: str = option("", "target language (default: the checkpoint's)", short="-t")

    def validate(self) -> None:
        if self.batch_size is not None and self.batch_size < 1:
            raise UserError(f"--batch-size must be at least 1 (got {self.batch_size})")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise UserError(f"--max-tokens must be at least 1 (got {self.max_tokens})")
        if self.score_reference and self.source_only:
            raise UserError("--score-reference scores references; --source-only has none")
        self.remove_bpe = bpe_marker(self.remove_bpe)
        self.search.validate()


def generation_batches(src_sizes: np.ndarray, max_tokens: int | None, batch_size: int | None) -> list[np.ndarray]:
    """Sentences sorted by source length, cut so that padded size fits max_tokens (never skipped)."""
    order = np.argsort(src_sizes, kind="stable")
    batches, current, width = [], [], 0
    for idx in order.tolist():
        new_width = max(width, int(src_sizes[idx]))
        too_many = batch_size is not None and len(current) >= batch_size
        too_big = max_tokens is not None and current and new_width * (len(current) + 1) > max_tokens
        if current and (too_many or too_big):
            batches.append(np.asarray(current))
            current, new_width = [], int(src_sizes[idx])
        current.append(idx)
        width = new_width
    if current:
        batches.append(np.asarray(current))
    return batches


def _load_task(cfg: GenerateConfig, models: InferenceModels):
    """The checkpoint's task over cfg.data, for the direction being translated; its dictionaries must match."""
    from toolkit.tasks import inference_task

    task = inference_task(models.config, cfg.data, models.src_lang, models.tgt_lang)
    sides = (("source", models.src_dict, models.src_lang), ("target", models.tgt_dict, models.tgt_lang))
    for side, ours, lang in sides:
        theirs = task.dictionary(lang)
        if ours != theirs:
            raise UserError(
                f"the {side} dictionary of {models.paths[0]} ({len(ours)} symbols) differs from "
                f"{cfg.data}/dict.{lang}.txt ({len(theirs)} symbols): was the model trained on this data?"
            )
    return task


def _target_processor(cfg: GenerateConfig, models: InferenceModels, task):
    """The checkpoint's (or the data's) target processor; --tokenizer changes its detokenizer, with a note."""
    from toolkit.data.text_processor import TextProcessor, TextProcessorConfig

    processor = (models.text_processors or {}).get("tgt")
    if processor is None:
        processor = task.text_processor(models.tgt_lang)
    if cfg.tokenizer is None:
        return processor
    base = processor.config if processor is not None else TextProcessorConfig(models.tgt_lang, tokenize="none")
    if base.tokenize == cfg.tokenizer:
        return processor
    note(
        f"--tokenizer {cfg.tokenizer}: the checkpoint's target side was tokenized with "
        f"{base.tokenize}; D- and T- lines are detokenized with {cfg.tokenizer}"
    )
    return TextProcessor(dataclasses.replace(base, tokenize=cfg.tokenizer))


def _progress(total: int, disabled: bool = False):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    return Progress(
        TextColumn("generate"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=disabled or not console.is_terminal,
    )


def generate_subset(cfg: GenerateConfig, out: IO[str] | None = None) -> dict:
    """Translate cfg.gen_subset of cfg.data; print (or write) the lines; return the summary."""
    out = out or sys.stdout
    if cfg.plot_attention:
        from toolkit.plotting import require_matplotlib

        require_matplotlib()
        try:  # a bad directory should fail before the search, not after it
            Path(cfg.plot_attention).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UserError(f"--plot-attention {cfg.plot_attention}: {error.strerror}") from None
    from toolkit.train.setup import import_user_dir

    import_user_dir(cfg.user_dir)
    torch.manual_seed(cfg.seed)
    models = load_models(cfg.path, pick_device(cfg.cpu), cfg.source_lang, cfg.target_lang, cfg.quantize)
    device = models.device  # the CPU for int8 models
    task = _load_task(cfg, models)
    dataset = task.load_split(cfg.gen_subset, source_only=cfg.source_only)
    if len(dataset) == 0:
        raise UserError(f"{cfg.data}: split {cfg.gen_subset!r} is empty")
    if cfg.score_reference and dataset.tgt is None:
        raise UserError(f"--score-reference: split {cfg.gen_subset!r} of {cfg.data} has no references")
    max_src = min(m.max_positions()[0] for m in models.models)
    too_long = np.nonzero(dataset.src_sizes > max_src)[0]
    if len(too_long):
        raise UserError(
            f"sentence {int(too_long[0])} of {cfg.gen_subset} has {int(dataset.src_sizes[too_long[0]])} tokens; "
            f"the model accepts {max_src}"
        )
    rng = torch.Generator(device=device).manual_seed(cfg.seed) if cfg.search.sampling else None
    generator = SequenceGenerator(
        models.models,
        cfg.search,
        unk_index=models.tgt_dict.unk_index,
        bf16=inference_bf16(cfg.bf16, models),
        need_attn=cfg.print_alignment or bool(cfg.plot_attention),  # attention costs time: only when shown
        rng=rng,
    )
    src_processor = (models.text_processors or {}).get("src") or task.text_processor(models.src_lang)
    post = Postprocessor(
        models.src_dict, models.tgt_dict, cfg.remove_bpe, _target_processor(cfg, models, task), src_processor
    )

    lines: dict[int, list[str]] = {}
    hyps: dict[int, str] = {}
    refs: dict[int, str] = {}
    to_plot: dict[int, tuple] = {}
    ntokens = 0
    start = time.perf_counter()
    batches = generation_batches(dataset.src_sizes, cfg.max_tokens, cfg.batch_size)
    tokenized: dict[int, tuple[str, str | None]] = {}  # (best hypothesis, reference), BPE removed
    with _progress(len(dataset), cfg.no_progress_bar) as progress:
        bar = progress.add_task("generate", total=len(dataset))
        for indices in batches:
            batch = dataset.batch(indices).to(device)
            constraints = models.search_arguments(len(indices))
            if cfg.score_reference:
                with generator._autocast(device):
                    scored = score_targets(
                        models.models,
                        batch.src_tokens,
                        batch.src_lengths,
                        batch.target,
                        cfg.search.lenpen,
                        **constraints,
                    )
                results = [[h] for h in scored]
            else:
                results = generator.generate(batch.src_tokens, batch.src_lengths, **constraints)
            for row, sid in enumerate(batch.ids.tolist()):
                src = batch.src_tokens[row, : int(batch.src_lengths[row])].cpu()
                ref = (
                    batch.target[row][batch.target[row].ne(models.tgt_dict.pad_index)].cpu()
                    if batch.target is not None
                    else None
                )
                lines[sid], hyps[sid], ref_text = sentence_lines(sid, src, ref, results[row], post, cfg.print_alignment)
                if ref_text is not None:
                    refs[sid] = ref_text
                if cfg.scoring == "bleu":
                    best = post.target(results[row][0].tokens) if results[row] else ""
                    tokenized[sid] = (best, post.target(ref) if ref is not None else None)
                ntokens += sum(len(h.tokens) for h in results[row][:1])
                if (
                    cfg.plot_attention
                    and sid < cfg.plot_limit
                    and results[row]
                    and results[row][0].attention is not None
                ):
                    to_plot[sid] = (src, results[row][0])
            progress.advance(bar, len(indices))
    elapsed = time.perf_counter() - start
    if to_plot:
        _plot_all(Path(cfg.plot_attention), to_plot, models)
    return _report(cfg, lines, hyps, refs, tokenized, ntokens, elapsed, out)


def _plot_all(directory: Path, to_plot: dict, models: InferenceModels) -> None:
    """Draw after the search, in a staging folder, then move in: an interrupted run adds no pictures."""
    from toolkit.plotting import plot_attention

    staging = Path(tempfile.mkdtemp(prefix=".plots.", suffix=".tmp", dir=directory))
    try:
        for sid, (src, hypo) in sorted(to_plot.items()):
            src_words = [models.src_dict[int(i)] for i in src.tolist()]
            tgt_words = [models.tgt_dict[int(i)] for i in hypo.tokens.tolist()]
            plot_attention(
                hypo.attention, src_words, tgt_words, staging / f"attention-{sid}.png", title=f"sentence {sid}"
            )
        for picture in sorted(staging.iterdir()):
            os.replace(picture, directory / picture.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _score_line(cfg: GenerateConfig, order: list[int], hyps, refs, tokenized) -> tuple[dict, str]:
    """The corpus score --scoring asks for: (summary fields, the text after 'what: ')."""
    import sacrebleu

    from toolkit.scoring.bleu import corpus_bleu

    if cfg.scoring == "sacrebleu":
        bleu = corpus_bleu([hyps[i] for i in order], [refs[i] for i in order])
        return {
            "bleu": bleu.score,
            "signature": bleu.signature,
        }, f"BLEU|{bleu.signature} = {bleu.text.partition(' = ')[2]}"
    if cfg.scoring == "bleu":  # fairseq's: BLEU-4 over the tokenized (BPE-removed) words, cased
        hyps_tok = [tokenized[i][0] for i in order]
        bleu = sacrebleu.corpus_bleu(hyps_tok, [[tokenized[i][1] for i in order]], tokenize="none")
        precisions = "/".join(f"{p:.1f}" for p in bleu.precisions)
        ratio = bleu.sys_len / max(bleu.ref_len, 1)
        text = (  # fairseq's own layout of this line
            f"BLEU4 = {bleu.score:.2f}, {precisions} (BP={bleu.bp:.3f}, ratio={ratio:.3f}, "
            f"syslen={bleu.sys_len}, reflen={bleu.ref_len})"
        )
        return {"bleu": bleu.score, "signature": "tokenized BLEU-4"}, text
    metric = sacrebleu.CHRF()
    chrf = metric.corpus_score([hyps[i] for i in order], [[refs[i] for i in order]])
    signature = str(metric.get_signature())
    return {"chrf": chrf.score, "signature": signature}, f"chrF2|{signature} = {chrf.score:.2f}"


def _report(cfg: GenerateConfig, lines, hyps, refs, tokenized, ntokens: int, elapsed: float, out: IO[str]) -> dict:
    order = sorted(lines)
    summary = {
        "subset": cfg.gen_subset,
        "sentences": len(order),
        "tokens": ntokens,
        "seconds": round(elapsed, 3),
        "sentences_per_second": round(len(order) / max(elapsed, 1e-9), 2),
        "tokens_per_second": round(ntokens / max(elapsed, 1e-9), 2),
    }
    what = "Score reference" if cfg.score_reference else f"Generate {cfg.gen_subset} with beam={cfg.search.beam}"
    speed = f"({summary['sentences_per_second']} sentences/s, {summary['tokens_per_second']} tokens/s)"
    footer = [f"{what}: {summary['sentences']} sentences, {ntokens} tokens in {elapsed:.1f}s {speed}"]
    if refs and len(refs) == len(order) and not cfg.score_reference:
        fields, text = _score_line(cfg, order, hyps, refs, tokenized)
        summary.update(fields)
        footer.append(f"{what}: {text}")
    body = [] if cfg.quiet else [line for i in order for line in lines[i]]
    if cfg.results_path:
        # Written only once everything is done: an interrupted run leaves no results file. The JSON
        # beside it records the full configuration and the summary, so the figures can be reproduced.
        record = {"config": dataclasses.asdict(cfg), "summary": summary}
        with atomic_open(Path(cfg.results_path) / f"generate-{cfg.gen_subset}.json") as handle:
            handle.write(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
        with atomic_open(Path(cfg.results_path) / f"generate-{cfg.gen_subset}.txt") as handle:
            handle.write("".join(line + "\n" for line in [line for i in order for line in lines[i]] + footer))
        out.write("".join(line + "\n" for line in footer))
    else:
        out.write("".join(line + "\n" for line in body + footer))
    out.flush()
    return summary
