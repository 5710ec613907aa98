"""A short, fixed `translation` training run whose losses and parameters pin the training loop's results.

`tests/fixtures/translation_trajectory.json` was recorded with this run before the task seam
refactor (commit 6dca29e); the trajectory test reruns it and compares. Rerecord only when a change
is meant to alter results:  python -m tests.helpers.trajectory --record
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import torch

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "translation_trajectory.json"
UPDATES = 12


def run_trajectory(root: Path) -> dict:
    """Preprocess a generated corpus, train UPDATES updates (dropout on, 2 epochs), return losses and parameters."""
    from tests.conftest import make_corpus
    from tests.helpers.preprocess_config import preprocess_config
    from tests.helpers.training import tiny_setup
    from toolkit.data.preprocess import preprocess
    from toolkit.train.loop import train

    torch.set_num_threads(1)
    raw = make_corpus(root / "raw", {"train": 120, "valid": 20, "test": 10}, seed=3)
    preprocess(preprocess_config(raw, root / "bin", joined_dictionary=True))
    setup = tiny_setup(root / "bin", max_update=UPDATES, max_tokens=400, save_dir=str(root / "ckpt"),
                       log_format="none", log_interval=1, seed=7)  # fmt: skip
    setup = dataclasses.replace(setup, model=dataclasses.replace(setup.model, dropout=0.1))
    train(setup)
    log = [json.loads(line) for line in (root / "ckpt" / "train_log.jsonl").read_text().splitlines()]
    state = torch.load(root / "ckpt" / "checkpoint_last.pt", map_location="cpu", weights_only=True)
    return {
        "train_loss": [r["loss"] for r in log if r["type"] == "train"],
        "valid_loss": [r["loss"] for r in log if r["type"] == "valid"],
        "parameters": {
            name: [float(t.double().sum()), float(t.double().norm())] for name, t in sorted(state["model"].items())
        },
    }


if __name__ == "__main__" and "--record" in sys.argv:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        result = run_trajectory(Path(tmp))
    FIXTURE.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {FIXTURE}: {len(result['train_loss'])} updates, {len(result['valid_loss'])} validations")
