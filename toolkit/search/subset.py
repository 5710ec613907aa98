"""`nmt generate` as a function: translate a binarized split and report BLEU and speed."""

from __future__ import annotations

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

from toolkit.errors import UserError
from toolkit.fileio import atomic_open
from toolkit.hardware import usable_bf16
from toolkit.search.config import SearchConfig
from toolkit.search.generator import SequenceGenerator
from toolkit.search.loading import InferenceModels, load_models, pick_device
from toolkit.search.output import Postprocessor, sentence_lines
from toolkit.search.scorer import score_targets


@dataclass
class GenerateConfig:
    data: str
    path: str
    search: SearchConfig = field(default_factory=SearchConfig)
    gen_subset: str = "test"
    batch_size: int | None = None
    max_tokens: int | None = 12000
    remove_bpe: str | None = "@@ "
    score_reference: bool = False
    results_path: str | None = None
    seed: int = 1
    bf16: bool = False
    cpu: bool = False
    print_alignment: bool = False
    plot_attention: str | None = None
    plot_limit: int = 20
    quiet: bool = False
    source_lang: str = ""
    target_lang: str = ""


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
    from toolkit.tasks.translation import TranslationConfig, TranslationTask

    src, tgt = models.langs()
    task = TranslationTask(
        TranslationConfig(data=cfg.data, source_lang=cfg.source_lang or src, target_lang=cfg.target_lang or tgt)
    )
    for side, ours, theirs, lang in (
        ("source", models.src_dict, task.src_dict, task.src_lang),
        ("target", models.tgt_dict, task.tgt_dict, task.tgt_lang),
    ):
        if ours != theirs:
            raise UserError(
                f"the {side} dictionary of {models.paths[0]} ({len(ours)} symbols) differs from "
                f"{task.data_dir}/dict.{lang}.txt ({len(theirs)} symbols): was the model trained on this data?"
            )
    return task


def _target_processor(models: InferenceModels, task):
    if models.text_processors and "tgt" in models.text_processors:
        return models.text_processors["tgt"]
    try:
        from toolkit.data.text_processor import load_text_processors
    except ImportError:
        return None
    try:
        return load_text_processors(task.data_dir).get(task.tgt_lang)
    except (UserError, OSError, KeyError):
        return None


def _progress(total: int):
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
        disable=not console.is_terminal,
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
    torch.manual_seed(cfg.seed)
    device = pick_device(cfg.cpu)
    models = load_models(cfg.path, device)
    task = _load_task(cfg, models)
    dataset = task.load_split(cfg.gen_subset)
    if len(dataset) == 0:
        raise UserError(f"{cfg.data}: split {cfg.gen_subset!r} is empty")
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
        bf16=usable_bf16(cfg.bf16, device),
        need_attn=cfg.print_alignment or bool(cfg.plot_attention),  # attention costs time: only when shown
        rng=rng,
    )
    post = Postprocessor(models.src_dict, models.tgt_dict, cfg.remove_bpe, _target_processor(models, task))

    lines: dict[int, list[str]] = {}
    hyps: dict[int, str] = {}
    refs: dict[int, str] = {}
    to_plot: dict[int, tuple] = {}
    ntokens = 0
    start = time.perf_counter()
    batches = generation_batches(dataset.src_sizes, cfg.max_tokens, cfg.batch_size)
    with _progress(len(dataset)) as progress:
        bar = progress.add_task("generate", total=len(dataset))
        for indices in batches:
            batch = dataset.batch(indices).to(device)
            if cfg.score_reference:
                with generator._autocast(device):
                    scored = score_targets(
                        models.models, batch.src_tokens, batch.src_lengths, batch.target, cfg.search.lenpen
                    )
                results = [[h] for h in scored]
            else:
                results = generator.generate(batch.src_tokens, batch.src_lengths)
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
    return _report(cfg, lines, hyps, refs, ntokens, elapsed, out)


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


def _report(cfg: GenerateConfig, lines, hyps, refs, ntokens: int, elapsed: float, out: IO[str]) -> dict:
    from toolkit.scoring.bleu import corpus_bleu

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
        bleu = corpus_bleu([hyps[i] for i in order], [refs[i] for i in order])
        summary["bleu"], summary["signature"] = bleu.score, bleu.signature
        footer.append(f"{what}: BLEU|{bleu.signature} = {bleu.text.partition(' = ')[2]}")
    body = [] if cfg.quiet else [line for i in order for line in lines[i]]
    if cfg.results_path:
        # Written only once everything is done: an interrupted run leaves no results file.
        with atomic_open(Path(cfg.results_path) / f"generate-{cfg.gen_subset}.txt") as handle:
            handle.write("".join(line + "\n" for line in [line for i in order for line in lines[i]] + footer))
        out.write("".join(line + "\n" for line in footer))
    else:
        out.write("".join(line + "\n" for line in body + footer))
    out.flush()
    return summary
