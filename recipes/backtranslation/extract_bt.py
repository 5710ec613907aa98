"""Synthetic pairs from `nmt generate --source-only --remove-bpe none` output, filtered as fairseq does.

    python extract_bt.py GENERATE_TXT OUT_PREFIX SYN_LANG REAL_LANG [--ratio 1.5] [--max-len 250]

Writes OUT_PREFIX.SYN_LANG (the hypotheses: synthetic text, BPE kept), OUT_PREFIX.REAL_LANG (the
monolingual input, BPE kept) and OUT_PREFIX.ids (the monolingual line each pair came from), in
input order; a pair the filter drops is counted, never shifts the others.
"""

from __future__ import annotations

import argparse
import sys


def read_pairs(path: str) -> dict[int, list[str | None]]:
    pairs: dict[int, list[str | None]] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            tag, _, rest = line.rstrip("\n").partition("\t")
            kind, _, number = tag.partition("-")
            if kind not in ("S", "H") or not number.isdigit():
                continue
            entry = pairs.setdefault(int(number), [None, None])
            if kind == "S":
                entry[0] = rest
            elif entry[1] is None:  # the best hypothesis: score, then text
                entry[1] = rest.partition("\t")[2]
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("generated")
    parser.add_argument("prefix")
    parser.add_argument("syn_lang")
    parser.add_argument("real_lang")
    parser.add_argument("--ratio", type=float, default=1.5, help="drop pairs whose length ratio exceeds this")
    parser.add_argument("--max-len", type=int, default=250, help="drop pairs with a side longer than this")
    args = parser.parse_args()
    pairs = read_pairs(args.generated)
    if not pairs:
        sys.exit(f"extract_bt: no S-/H- lines in {args.generated}")
    counts = {"empty": 0, "length": 0, "ratio": 0, "kept": 0}
    with (
        open(f"{args.prefix}.{args.syn_lang}", "w", encoding="utf-8") as syn,
        open(f"{args.prefix}.{args.real_lang}", "w", encoding="utf-8") as real,
        open(f"{args.prefix}.ids", "w", encoding="utf-8") as ids,
    ):
        for number in sorted(pairs):
            source, hypothesis = pairs[number]
            s, h = (source or "").split(), (hypothesis or "").split()
            if not s or not h:
                counts["empty"] += 1
            elif len(s) > args.max_len or len(h) > args.max_len:
                counts["length"] += 1
            elif max(len(s), len(h)) / min(len(s), len(h)) > args.ratio:
                counts["ratio"] += 1
            else:
                counts["kept"] += 1
                syn.write(" ".join(h) + "\n")
                real.write(" ".join(s) + "\n")
                ids.write(f"{number}\n")
    total = len(pairs)
    print(
        f"back-translations: {total}; dropped {counts['empty']} empty, {counts['length']} longer than "
        f"{args.max_len}, {counts['ratio']} with a length ratio above {args.ratio}; kept {counts['kept']}"
    )


if __name__ == "__main__":
    main()
