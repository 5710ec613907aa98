"""`nmt preprocess`: builds a PreprocessConfig from flags and calls toolkit.data.preprocess."""

from __future__ import annotations

import sys

import typer

from toolkit.data.parallel import default_workers
from toolkit.data.preprocess import PreprocessConfig, preprocess


def _list(value: str | None) -> list[str]:
    return [p for p in (value or "").split(",") if p]


def preprocess_command(
    source_lang: str = typer.Option(
        ..., "--source-lang", "-s", help="Source language code; files are PREFIX.LANG[.gz]."
    ),
    target_lang: str | None = typer.Option(
        None, "--target-lang", "-t", help="Target language code (omit: monolingual)."
    ),
    trainpref: str | None = typer.Option(None, help="Training files prefix (BPE and dictionaries are learned here)."),
    validpref: str | None = typer.Option(None, help="Validation prefix(es), comma-separated: valid, valid1, ..."),
    testpref: str | None = typer.Option(None, help="Test prefix(es), comma-separated: test, test1, ..."),
    destdir: str = typer.Option("data-bin", help="Output directory (created atomically)."),
    only_source: bool = typer.Option(False, "--only-source", help="Binarize the source side only (monolingual)."),
    tokenize: str = typer.Option("moses", help="Tokenizer: moses (sacremoses) or none (input already tokenized)."),
    normalize_punct: bool = typer.Option(
        True, "--normalize-punct/--no-normalize-punct", help="Moses punctuation normalization."
    ),
    bpe: str = typer.Option("subword-nmt", help="Subword segmentation: subword-nmt or none."),
    bpe_merges: int = typer.Option(10000, help="Number of BPE merge operations to learn."),
    bpe_min_frequency: int = typer.Option(2, help="Stop learning merges below this pair frequency."),
    bpe_separate: bool = typer.Option(False, "--bpe-separate", help="Learn BPE per language instead of jointly."),
    bpe_codes: str | None = typer.Option(None, help="Reuse these subword-nmt codes instead of learning."),
    bpe_dropout: float = typer.Option(
        0.0, help="BPE-dropout: skip each merge with this probability in extra copies of the training split."
    ),
    bpe_dropout_copies: int = typer.Option(
        1, help="With --bpe-dropout: stochastically segmented copies added after the deterministic training split."
    ),
    seed: int = typer.Option(1, help="Seed for --bpe-dropout (output is identical for any --workers)."),
    joined_dictionary: bool = typer.Option(False, "--joined-dictionary", help="One dictionary for both languages."),
    srcdict: str | None = typer.Option(None, help="Reuse this source dictionary (dict.LANG.txt)."),
    tgtdict: str | None = typer.Option(None, help="Reuse this target dictionary."),
    thresholdsrc: int = typer.Option(0, help="Map source symbols seen fewer times to <unk>."),
    thresholdtgt: int = typer.Option(0, help="Map target symbols seen fewer times to <unk>."),
    nwordssrc: int = typer.Option(-1, help="Source dictionary size cap, specials included (-1: no cap)."),
    nwordstgt: int = typer.Option(-1, help="Target dictionary size cap, specials included (-1: no cap)."),
    padding_factor: int = typer.Option(8, help="Pad dictionary sizes to a multiple of this."),
    encoding_errors: str = typer.Option("strict", help="strict: invalid UTF-8 is an error; replace: use U+FFFD."),
    workers: int = typer.Option(
        default_workers(), help="Processes for tokenization and BPE (output identical for any)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a destination holding other preprocessing."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Tokenize, learn and apply BPE, build dictionaries and binarize parallel text (fairseq layout)."""
    config = PreprocessConfig(
        source_lang=source_lang,
        target_lang=target_lang,
        trainpref=trainpref,
        validpref=_list(validpref),
        testpref=_list(testpref),
        destdir=destdir,
        only_source=only_source,
        tokenize=tokenize,
        normalize_punct=normalize_punct,
        bpe=bpe,
        bpe_merges=bpe_merges,
        bpe_min_frequency=bpe_min_frequency,
        bpe_separate=bpe_separate,
        bpe_codes=bpe_codes,
        bpe_dropout=bpe_dropout,
        bpe_dropout_copies=bpe_dropout_copies,
        seed=seed,
        joined_dictionary=joined_dictionary,
        srcdict=srcdict,
        tgtdict=tgtdict,
        thresholdsrc=thresholdsrc,
        thresholdtgt=thresholdtgt,
        nwordssrc=nwordssrc,
        nwordstgt=nwordstgt,
        padding_factor=padding_factor,
        encoding_errors=encoding_errors,
        workers=workers,
        overwrite=overwrite,
        quiet=quiet,
    )
    stats = preprocess(config)
    if stats["already_done"]:
        print(f"nmt preprocess: {destdir} already holds this preprocessing; nothing to do", file=sys.stderr)
        return
    if not quiet:
        for split, langs in stats["splits"].items():
            for lang, s in langs.items():
                print(
                    f"{split}.{lang}: {s['sentences']} sentences, {s['tokens']} tokens, "
                    f"{100 * s['unk_rate']:.2f}% <unk>",
                    file=sys.stderr,
                )
        sizes = ", ".join(f"{lang} {d['size']}" for lang, d in stats["dictionaries"].items())
        print(f"dictionaries: {sizes}; wrote {destdir}", file=sys.stderr)


def register(app: typer.Typer) -> None:
    app.command("preprocess")(preprocess_command)
