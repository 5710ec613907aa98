"""`nmt preprocess`: options from PreprocessConfig; calls toolkit.data.preprocess."""

from __future__ import annotations

import sys

from cli.options import parse_command

DESCRIPTION = (
    "Tokenize, learn and apply BPE (or split into characters: --bpe characters), build dictionaries and "
    "binarize text (fairseq's layout). "
    "Text that already carries BPE markers (@@ ), as fairseq-preprocess expects, is taken as it is."
)


def run(argv: list[str], prog: str = "nmt preprocess") -> None:
    from toolkit.data.preprocess import PreprocessConfig, preprocess

    config = parse_command(prog, DESCRIPTION, PreprocessConfig, argv)
    stats = preprocess(config)
    if stats["already_done"]:
        print(f"nmt preprocess: {config.destdir} already holds this preprocessing; nothing to do", file=sys.stderr)
        return
    if not config.quiet:
        rows = [(f"{split}.{lang}", s) for split, langs in stats["splits"].items() for lang, s in langs.items()]
        rows += [(f"{s['prefix']} (monolingual)", s) for s in stats["monolingual_splits"].values()]
        for name, s in rows:
            print(
                f"{name}: {s['sentences']} sentences, {s['tokens']} tokens, {100 * s['unk_rate']:.2f}% <unk>",
                file=sys.stderr,
            )
        sizes = ", ".join(f"{lang} {d['size']}" for lang, d in stats["dictionaries"].items())
        print(f"dictionaries: {sizes}; wrote {config.destdir}", file=sys.stderr)
