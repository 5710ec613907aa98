"""`nmt generate`: translate a binarized split with a checkpoint (or an ensemble) and score it."""

from __future__ import annotations

from pathlib import Path

import typer

from cli import search_options as so


def generate(
    data: Path = typer.Argument(..., help="A `nmt preprocess` destination directory."),
    path: str = typer.Option(..., "--path", help="Checkpoint file; several separated by ':' form an ensemble."),
    gen_subset: str = typer.Option("test", "--gen-subset", help="Split to translate: test, valid, test1, ..."),
    beam: int = so.BEAM,
    nbest: int = so.NBEST,
    lenpen: float = so.LENPEN,
    unkpen: float = so.UNKPEN,
    min_len: int = so.MIN_LEN,
    max_len_a: float = so.MAX_LEN_A,
    max_len_b: int = so.MAX_LEN_B,
    no_repeat_ngram_size: int = so.NO_REPEAT,
    sampling: bool = so.SAMPLING,
    sampling_topk: int = so.TOPK,
    sampling_topp: float = so.TOPP,
    temperature: float = so.TEMPERATURE,
    batch_size: int = typer.Option(None, "--batch-size", help="Maximum sentences per batch."),
    max_tokens: int = typer.Option(12000, "--max-tokens", help="Maximum padded source tokens per batch."),
    remove_bpe: str = typer.Option(
        "@@ ", "--remove-bpe", help="BPE marker to remove in S-/H- lines ('none' keeps BPE)."
    ),
    score_reference: bool = typer.Option(False, "--score-reference", help="Score the references instead of searching."),
    results_path: Path = typer.Option(None, "--results-path", help="Write generate-SUBSET.txt here (atomically)."),
    seed: int = typer.Option(1, "--seed", help="Random seed (sampling)."),
    bf16: bool = typer.Option(False, "--bf16", help="Run the model under bfloat16 autocast."),
    cpu: bool = typer.Option(False, "--cpu", help="Use the CPU even if CUDA is available."),
    print_alignment: bool = typer.Option(False, "--print-alignment", help="Print A- lines (argmax attention)."),
    plot_attention: Path = typer.Option(
        None, "--plot-attention", help="Write attention heatmaps (PNG) here; needs matplotlib."
    ),
    plot_limit: int = typer.Option(20, "--plot-limit", help="Plot only sentences with id below this."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the summary."),
    source_lang: str = typer.Option("", "--source-lang", "-s", help="Override the source language."),
    target_lang: str = typer.Option("", "--target-lang", "-t", help="Override the target language."),
) -> None:
    """Translate a split; print S-/T-/H-/D-/P- lines by sentence id, then sacreBLEU and speed."""
    from toolkit.search.subset import GenerateConfig, generate_subset

    search = so.search_config(
        beam,
        nbest,
        lenpen,
        unkpen,
        min_len,
        max_len_a,
        max_len_b,
        no_repeat_ngram_size,
        sampling,
        sampling_topk,
        sampling_topp,
        temperature,
    )
    config = GenerateConfig(
        data=str(data),
        path=path,
        search=search,
        gen_subset=gen_subset,
        batch_size=batch_size,
        max_tokens=max_tokens,
        remove_bpe=so.bpe_symbol(remove_bpe),
        score_reference=score_reference,
        results_path=str(results_path) if results_path else None,
        seed=seed,
        bf16=bf16,
        cpu=cpu,
        print_alignment=print_alignment,
        plot_attention=str(plot_attention) if plot_attention else None,
        plot_limit=plot_limit,
        quiet=quiet,
        source_lang=source_lang,
        target_lang=target_lang,
    )
    generate_subset(config)


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
