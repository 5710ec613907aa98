"""Search options shared by `nmt generate` and `nmt translate`, gathered into a SearchConfig."""

from __future__ import annotations

import typer

from toolkit.search.config import SearchConfig

BEAM = typer.Option(5, "--beam", help="Beam size (1 = greedy).")
NBEST = typer.Option(1, "--nbest", help="Hypotheses to output per sentence (at most --beam).")
LENPEN = typer.Option(1.0, "--lenpen", help="Scores are divided by length ** lenpen (0: raw sum).")
UNKPEN = typer.Option(0.0, "--unkpen", help="Subtracted from the log-probability of <unk>.")
MIN_LEN = typer.Option(1, "--min-len", help="Minimum number of tokens before EOS.")
MAX_LEN_A = typer.Option(0.0, "--max-len-a", help="Maximum output length is a * source length + b.")
MAX_LEN_B = typer.Option(200, "--max-len-b", help="See --max-len-a (capped by the model's maximum positions).")
NO_REPEAT = typer.Option(0, "--no-repeat-ngram-size", help="Never repeat an n-gram of this size (0: off).")
SAMPLING = typer.Option(False, "--sampling", help="Sample instead of beam search (--beam samples per sentence).")
TOPK = typer.Option(-1, "--sampling-topk", help="Sample only among the k most likely tokens.")
TOPP = typer.Option(-1.0, "--sampling-topp", help="Sample only from the smallest set of tokens with mass p.")
TEMPERATURE = typer.Option(1.0, "--temperature", help="Divide log-probabilities by this before search.")


def search_config(
    beam: int,
    nbest: int,
    lenpen: float,
    unkpen: float,
    min_len: int,
    max_len_a: float,
    max_len_b: int,
    no_repeat_ngram_size: int,
    sampling: bool,
    sampling_topk: int,
    sampling_topp: float,
    temperature: float,
) -> SearchConfig:
    return SearchConfig(
        beam=beam,
        nbest=nbest,
        max_len_a=max_len_a,
        max_len_b=max_len_b,
        min_len=min_len,
        lenpen=lenpen,
        unkpen=unkpen,
        no_repeat_ngram_size=no_repeat_ngram_size,
        sampling=sampling,
        sampling_topk=sampling_topk,
        sampling_topp=sampling_topp,
        temperature=temperature,
    ).validate()


def bpe_symbol(remove_bpe: str) -> str | None:
    return None if remove_bpe.strip().lower() in ("", "none", "no") else remove_bpe
