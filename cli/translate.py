"""`nmt translate` (alias `nmt interactive`): raw text in, translations out, one line per line."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import typer

from cli import search_options as so


def translate(
    path: str = typer.Option(..., "--path", help="Checkpoint file; several separated by ':' form an ensemble."),
    input: Path = typer.Option(None, "--input", "-i", help="Read this file instead of stdin."),
    buffer_size: int = typer.Option(
        None, "--buffer-size", help="Lines translated together (default 32; 1 on a terminal)."
    ),
    max_tokens: int = typer.Option(12000, "--max-tokens", help="Maximum padded source tokens per batch."),
    beam: int = so.BEAM,
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
    remove_bpe: str = typer.Option("@@ ", "--remove-bpe", help="BPE marker to remove when no detokenizer is stored."),
    seed: int = typer.Option(1, "--seed", help="Random seed (sampling)."),
    bf16: bool = typer.Option(False, "--bf16", help="Run the model under bfloat16 autocast."),
    cpu: bool = typer.Option(False, "--cpu", help="Use the CPU even if CUDA is available."),
) -> None:
    """Translate raw text from stdin (or --input) with the preprocessing stored in the checkpoint."""
    from toolkit.fileio import open_text
    from toolkit.search.interactive import TranslateConfig, translate_stream

    search = so.search_config(
        beam,
        1,
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
    if input is not None:
        source = open_text(input, encoding_errors="replace")
    else:  # undecodable bytes on stdin become U+FFFD, as with --input, never a traceback
        source = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace", newline="\n")
    if buffer_size is None:
        buffer_size = 1 if input is None and sys.stdin.isatty() else 32
    config = TranslateConfig(
        path=path,
        search=search,
        buffer_size=buffer_size,
        max_tokens=max_tokens,
        remove_bpe=so.bpe_symbol(remove_bpe),
        seed=seed,
        bf16=bf16,
        cpu=cpu,
    )
    try:
        translate_stream(config, source, sys.stdout)
    finally:
        if input is not None:
            source.close()


def register(app: typer.Typer) -> None:
    app.command("translate")(translate)
    app.command("interactive", help="Alias of `nmt translate`.")(translate)
