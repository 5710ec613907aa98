"""`nmt translate` (and fairseq's name, `nmt interactive`): options from TranslateConfig and SearchConfig."""

from __future__ import annotations

from cli.options import parse_command

DESCRIPTION = (
    "Translate raw text from stdin (or --input), one output line per input line, with the tokenizer and "
    "BPE stored in the checkpoint. fairseq's form works too: nmt interactive DATA --path CKPT "
    "--source-lang de --target-lang en --tokenizer moses --bpe subword_nmt --bpe-codes DATA/bpecodes."
)


def run(argv: list[str], prog: str = "nmt translate") -> None:
    from toolkit.search.interactive import TranslateConfig, translate_command

    translate_command(parse_command(prog, DESCRIPTION, TranslateConfig, argv))
