"""What `nmt preprocess` writes, as sha256 per output file, for a fixed set of configurations.

tests/fixtures/preprocess_bytes.json holds these hashes as recorded from the code before
preprocessing became streaming; tests/unit/test_preprocess_streaming.py checks that today's
code still writes the same bytes. preprocess.json names the temporary input paths, so it is
compared per top-level key with those paths replaced by "<root>"; keys added since the
recording are not compared (the keys recorded must stay as they were).

    python -m tests.helpers.preprocess_bytes            compare with the fixture (exit 1 on a difference)
    python -m tests.helpers.preprocess_bytes --record   write the fixture from the current code
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

from tests.conftest import make_corpus
from tests.helpers.preprocess_config import preprocess_config

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "preprocess_bytes.json"
ROOT_MARK = "<root>"

# name -> PreprocessConfig overrides (on top of tests/helpers/preprocess_config.py: de-en, 60 merges).
CONFIGS: dict[str, dict] = {
    "joined": {"joined_dictionary": True},
    "joined_workers2": {"joined_dictionary": True, "workers": 2},
    "separate": {},
    "separate_workers2": {"workers": 2},
    "bpe_separate_caps": {"bpe_separate": True, "thresholdtgt": 2, "nwordssrc": 40},
    "dropout": {"joined_dictionary": True, "bpe_dropout": 0.2, "bpe_dropout_copies": 2},
    "dropout_workers2": {"joined_dictionary": True, "bpe_dropout": 0.2, "bpe_dropout_copies": 2, "workers": 2},
    "only_source": {"only_source": True},
    "moses_learned_bpe": {"tokenize": "moses", "bpe": "subword-nmt", "bpe_merges": 200, "bpe_min_frequency": 3},
    "no_tokenizer_no_bpe": {"tokenize": "none", "bpe": "none"},
}


def write_corpus(root: Path) -> Path:
    """The generated corpus, plus the awkward lines: empty, blank, repeated, no final newline."""
    raw = make_corpus(root / "raw", {"train": 300, "valid": 30, "test": 30}, seed=7)
    for lang, odd in (("de", ["", "   ", "Der Hund läuft ."]), ("en", ["", "   ", "The dog runs ."])):
        path = raw / f"train.{lang}"
        lines = path.read_text(encoding="utf-8").splitlines()
        lines[10:10] = odd + odd[-1:]  # the last one twice
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        test = raw / f"test.{lang}"
        test.write_text(test.read_text(encoding="utf-8").rstrip("\n"), encoding="utf-8")
    return raw


def _normalized(value, root: str):
    if isinstance(value, str):
        return value.replace(root, ROOT_MARK)
    if isinstance(value, list):
        return [_normalized(v, root) for v in value]
    if isinstance(value, dict):
        return {k: _normalized(v, root) for k, v in value.items()}
    return value


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def destination_hashes(dest: Path, root: Path) -> dict[str, str]:
    """sha256 of every file in `dest`; preprocess.json as "preprocess.json:KEY" per top-level key."""
    out = {}
    for path in sorted(dest.iterdir()):
        if path.name == "preprocess.json":
            meta = _normalized(json.loads(path.read_text(encoding="utf-8")), str(root))
            for key, value in meta.items():
                out[f"preprocess.json:{key}"] = _sha(json.dumps(value, sort_keys=True).encode("utf-8"))
        else:
            out[path.name] = _sha(path.read_bytes())
    return out


def run_config(name: str, raw: Path, dest_root: Path) -> dict[str, str]:
    """Preprocess the corpus `raw` (from write_corpus) as configuration `name` into DEST_ROOT/bin-NAME."""
    from toolkit.data.preprocess import preprocess

    dest = dest_root / f"bin-{name}"
    preprocess(preprocess_config(raw, dest, **CONFIGS[name]))
    return destination_hashes(dest, raw.parent)


def all_hashes(names: list[str] | None = None) -> dict[str, dict[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        raw = write_corpus(root)
        return {name: run_config(name, raw, root) for name in names or CONFIGS}


def differences(recorded: dict[str, str], actual: dict[str, str]) -> list[str]:
    """What differs from the recording: every data file exactly, preprocess.json's recorded keys."""
    out = []
    files = {k for k in recorded if not k.startswith("preprocess.json:")}
    now = {k for k in actual if not k.startswith("preprocess.json:")}
    out += [f"missing {k}" for k in sorted(files - now)] + [f"new file {k}" for k in sorted(now - files)]
    out += [f"{k} differs" for k in sorted(recorded) if k in actual and recorded[k] != actual[k]]
    out += [f"{k} missing" for k in sorted(recorded) if k.startswith("preprocess.json:") and k not in actual]
    return out


def load_fixture() -> dict[str, dict[str, str]]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help=f"write {FIXTURE.name} from the current code")
    args = parser.parse_args()
    hashes = all_hashes()
    if args.record:
        FIXTURE.write_text(json.dumps(hashes, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"recorded {len(hashes)} configurations into {FIXTURE}")
        return
    fixture = load_fixture()
    problems = [f"{name}: {d}" for name in CONFIGS for d in differences(fixture[name], hashes[name])]
    print("\n".join(problems) or f"all {len(CONFIGS)} configurations write the recorded bytes")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
