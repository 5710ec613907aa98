"""`nmt quantize` and `--quantize int8`: a small plain-data checkpoint, the same translations either way, refusals."""

from __future__ import annotations

import torch

from tests.helpers.cli import nmt_captured
from tests.helpers.pipeline import tiny_checkpoint
from toolkit.search.loading import load_models


def _search_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line[:2] in ("S-", "H-", "D-", "P-")]


def _error_line(output: str) -> str:
    errors = [line for line in output.splitlines() if line.startswith("nmt: error:")]
    assert len(errors) == 1 and "Traceback" not in output, output
    return errors[0]


def test_quantize_generate_translate_and_refusals(tmp_path, capsys):
    checkpoint = tiny_checkpoint(tmp_path)
    data, int8 = tmp_path / "bin", tmp_path / "int8.pt"
    code, output = nmt_captured("quantize", str(checkpoint), str(int8))
    assert code == 0 and f"wrote {int8} (int8)" in output and "smaller than" in output, output

    state = torch.load(int8, map_location="cpu", weights_only=True)  # plain data
    assert "model" not in state and "optimizer" not in state and int8.stat().st_size < checkpoint.stat().st_size
    weights = state["int8"]["weights"]
    assert weights["encoder_layers.0.ffn.fc1.weight"].dtype == torch.int8
    assert weights["encoder_embed.weight"].dtype == torch.int8  # tied to the vocabulary projection

    common = ("generate", str(data), "--gen-subset", "valid", "--beam", "3", "--batch-size", "3", "--max-len-b", "20")
    code, stored = nmt_captured(*common, "--path", str(int8), "--bf16")
    assert code == 0 and "nmt: note: --bf16 is ignored with int8" in stored, stored
    code, at_load = nmt_captured(*common, "--path", str(checkpoint), "--quantize", "int8")
    assert code == 0, at_load
    assert _search_lines(stored) == _search_lines(at_load) and len(_search_lines(stored)) == 4 * 8

    (tmp_path / "input.de").write_text("ein Hund läuft .\n\ndie Katze schläft .\n", encoding="utf-8")
    source = str(tmp_path / "input.de")
    code, translated = nmt_captured("translate", "--path", str(int8), "--input", source, "--max-len-b", "20")
    assert code == 0 and len(translated.splitlines()) == 3, translated

    # A GPU machine: int8 says it runs on the CPU instead (nothing here touches CUDA).
    loaded = load_models(str(checkpoint), torch.device("cuda"), quantize="int8")
    assert loaded.device.type == "cpu" and loaded.quantization == "int8"
    assert "--quantize int8 runs on the CPU only" in capsys.readouterr().err

    refusals = {
        "average-checkpoints": ("average-checkpoints", "--inputs", str(int8), str(checkpoint), "--output",
                                str(tmp_path / "avg.pt")),
        "--restore-file": ("train", str(data), "--arch", "transformer_tiny", "--save-dir", str(tmp_path / "r"),
                           "--restore-file", str(int8), "--max-update", "1"),
        "--init-from": ("train", str(data), "--arch", "transformer_tiny", "--save-dir", str(tmp_path / "i"),
                        "--init-from", str(int8), "--max-update", "1"),
        "nmt quantize": ("quantize", str(int8), str(tmp_path / "again.pt")),
    }  # fmt: skip
    for what, args in refusals.items():
        code, output = nmt_captured(*args)
        line = _error_line(output)
        assert code == 2 and f"{int8} is an int8 inference checkpoint (nmt quantize)" in line, (what, output)
    assert not (tmp_path / "avg.pt").exists() and not (tmp_path / "again.pt").exists()
