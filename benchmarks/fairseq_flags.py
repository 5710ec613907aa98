"""Which flags of fairseq's translation documentation nmt accepts, accepts with a note, or refuses.

Usage:
    python benchmarks/fairseq_flags.py [--markdown]

The flags are cli/fairseq_compat.DOCUMENTED; each is looked up in the compatibility table and in the
subcommand's real parser (for train, with the default components, then with every other registered
architecture, optimizer, scheduler and criterion, which it then names). --markdown prints the README's
table.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cli import fairseq_compat  # noqa: E402


def _parser_options(command: str) -> tuple[set[str], dict[str, str]]:
    """(options of the subcommand with its default components, option -> the other components having it)."""
    from cli import train
    from cli.options import build_parser

    if command != "train":
        where = {
            "preprocess": ("toolkit.data.preprocess", "PreprocessConfig"),
            "generate": ("toolkit.search.subset", "GenerateConfig"),
            "interactive": ("toolkit.search.interactive", "TranslateConfig"),
            "score": ("toolkit.scoring.report", "ScoreRunConfig"),
        }[command]
        module = __import__(where[0], fromlist=[where[1]])
        parser = build_parser(f"nmt {command}", "", getattr(module, where[1]))
        return {s for a in parser._actions for s in a.option_strings}, {}
    parsers: list = []
    original = train.OptionParser.parse_args

    def grab(self, args=None, namespace=None):
        parsers.append(self)
        raise SystemExit(0)

    def options_with(combo: list[str]) -> set[str]:
        try:
            train.build_setup(["D", *combo])
        except SystemExit:
            pass
        return {s for a in parsers[-1]._actions for s in a.option_strings}

    archs, criterions, optimizers, schedulers, _ = train._registries()
    train.OptionParser.parse_args = grab
    try:
        default = options_with([])
        elsewhere: dict[str, set[str]] = {}
        for flag, names in (("--arch", archs.names()), ("--optimizer", optimizers.names()),
                            ("--lr-scheduler", schedulers.names()), ("--criterion", criterions.names())):  # fmt: skip
            for name in names:
                for option in options_with([flag, name]) - default:
                    elsewhere.setdefault(option, set()).add(f"{flag} {name}")
    finally:
        train.OptionParser.parse_args = original
    return default, {option: " or ".join(sorted(c)) for option, c in elsewhere.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    args = parser.parse_args()
    totals: Counter = Counter()
    rows = []
    for command, flags in fairseq_compat.DOCUMENTED.items():
        options, elsewhere = _parser_options(command)
        for flag in flags.split():
            status, meaning = fairseq_compat.classify(command, flag, options, elsewhere)
            totals[status] += 1
            rows.append((command, flag, status, meaning))
    if args.markdown:
        print("| subcommand | fairseq flag | nmt | what nmt does |")
        print("|---|---|---|---|")
        for command, flag, status, meaning in rows:
            if status != "accepted" or meaning != "an nmt option":
                print(f"| {command} | `{flag}` | {status} | {meaning} |")
    else:
        for command, flag, status, meaning in rows:
            print(f"{command:<11} {flag:<38} {status:<21} {meaning}")
    summary = ", ".join(f"{totals[s]} {s}" for s in ("accepted", "accepted with a note", "refused", "unknown"))
    print(f"{sum(totals.values())} documented fairseq flags: {summary}")
    if totals["unknown"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
