"""`nmt export --format ctranslate2`: CTranslate2 translates the exported model as `nmt generate` does.

Oracle: our own search on the same checkpoint. Greedy must agree token for token (with the
length limits matched, including caps that bind); beam 5 on nearly every sentence.
"""

from __future__ import annotations

import builtins
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import REPO, nmt_captured, nmt_ok
from tests.helpers.pipeline import WORDS

ctranslate2 = pytest.importorskip("ctranslate2")

# Small, and quick to train into a model whose outputs differ from sentence to sentence: an epoch is
# the corpus 50 times over, so that per-epoch validation and saving stay a small part of the run.
TRAIN = ["--arch", "transformer_tiny", "--encoder-layers", "1", "--decoder-layers", "1", "--encoder-embed-dim", "64",
         "--decoder-embed-dim", "64", "--encoder-ffn-embed-dim", "128", "--decoder-ffn-embed-dim", "128",
         "--lr", "0.005", "--warmup-updates", "20", "--dropout", "0", "--upsample-primary", "50",
         "--max-tokens", "1000", "--max-update", "150", "--log-format", "simple", "--threads", "1",
         "--no-epoch-checkpoints"]  # fmt: skip
# Pre-norm, learned positions, untied embeddings and output layer, GELU, unscaled embeddings,
# different head and layer counts on the two sides: every Transformer switch the export maps, at once.
VARIANT = ["--normalize-before", "--learned-pos", "--no-share-all-embeddings", "--activation-fn", "gelu",
           "--no-scale-embedding", "--decoder-attention-heads", "2", "--encoder-layers", "2"]  # fmt: skip
# Length caps of 2 |x| + 3 tokens (|x| counts the source's </s>): room for a copy, not for babbling.
LIMITS = (2.0, 3)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """tests.helpers.pipeline's copy task (Moses + BPE recorded), with 60 test sentences to translate."""
    root = tmp_path_factory.mktemp("ct2-data")
    rng = random.Random(0)
    for split, n in (("train", 120), ("valid", 8), ("test", 60)):
        lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 7))) + " ." for _ in range(n)]
        for lang in ("de", "en"):
            (root / f"{split}.{lang}").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    flags = [x for split in ("train", "valid", "test") for x in (f"--{split}pref", str(root / split))]
    nmt_ok("preprocess", "-s", "de", "-t", "en", *flags, "--destdir", str(root / "bin"), "--bpe-merges", "30",
           "--joined-dictionary", "--workers", "1", "--quiet", threads=1)  # fmt: skip
    return root / "bin"


@pytest.fixture(scope="module")
def checkpoints(data, tmp_path_factory) -> dict[str, Path]:
    """Both models, trained at the same time (one thread each): post-norm (transformer_tiny's
    switches: sinusoidal positions, all embeddings shared) and the pre-norm variant."""
    root = tmp_path_factory.mktemp("ct2-models")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    runs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "cli", "train", str(data), "--save-dir", str(root / name), *TRAIN, *extra],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, extra in (("post_norm", []), ("variant", VARIANT))
    }
    for name, run in runs.items():
        _, stderr = run.communicate(timeout=600)
        assert run.returncode == 0, f"training {name} failed:\n{stderr[-2000:]}"
    return {name: root / name / "checkpoint_last.pt" for name in runs}


@pytest.fixture(scope="module")
def post_norm(checkpoints) -> Path:
    return checkpoints["post_norm"]


@pytest.fixture(scope="module")
def variant(checkpoints) -> Path:
    return checkpoints["variant"]


@pytest.fixture(scope="module")
def exported(checkpoints, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ct2-exported")
    return {name: _export(checkpoint, root / name) for name, checkpoint in checkpoints.items()}


def _export(checkpoint: Path, out: Path, *flags: str) -> Path:
    code, output = nmt_captured("export", "--format", "ctranslate2", str(checkpoint), str(out), *flags)
    assert code == 0, output
    return out


def _ours(data: Path, checkpoint: Path, beam: int, a: float, b: int) -> dict[int, str]:
    """`nmt generate` on the test split: sentence id -> the best hypothesis's BPE tokens."""
    code, output = nmt_captured("generate", str(data), "--path", str(checkpoint), "--gen-subset", "test",
                                "--beam", str(beam), "--remove-bpe", "none", "--batch-size", "50",
                                "--max-len-a", str(a), "--max-len-b", str(b))  # fmt: skip
    assert code == 0, output
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^H-(\d+)\t\S+\t(.*)$", output, re.MULTILINE)}


def _theirs(data: Path, checkpoint: Path, model_dir: Path, beam: int, a: float, b: int) -> dict[int, str]:
    from toolkit.data.indexed import MMapIndexedDataset
    from toolkit.export.ctranslate2_search import load_translator, translate_ids
    from toolkit.train.checkpoint import load_model_for_inference

    loaded = load_model_for_inference(checkpoint)
    sources = list(MMapIndexedDataset(data / "test.de-en.de"))
    best = translate_ids(
        load_translator(model_dir, threads=1), sources, loaded.src_dict, loaded.tgt_dict,
        max_target_positions=loaded.model.config.max_target_positions, beam=beam, max_len_a=a, max_len_b=b,
        batch_size=50,
    )  # fmt: skip
    return {i: loaded.tgt_dict.string(ids) for i, ids in enumerate(best)}


def _agreement(ours: dict[int, str], theirs: dict[int, str]) -> float:
    assert sorted(ours) == sorted(theirs)
    return sum(ours[i] == theirs[i] for i in ours) / len(ours)


def test_greedy_equals_nmt_generate_token_for_token(data, checkpoints, exported):
    from toolkit.data.indexed import MMapIndexedDataset

    # Caps of |x| + 1 tokens (|x| counts the source's </s>): some outputs end first, some are cut.
    caps = [len(s) + 1 for s in MMapIndexedDataset(data / "test.de-en.de")]
    cut = 0
    for name, checkpoint in checkpoints.items():
        ours, theirs = _ours(data, checkpoint, 1, 1.0, 1), _theirs(data, checkpoint, exported[name], 1, 1.0, 1)
        assert _agreement(ours, theirs) == 1.0, [(i, ours[i], theirs[i]) for i in ours if ours[i] != theirs[i]][:3]
        assert len(set(ours.values())) > 10, f"{name}: the outputs should differ from sentence to sentence"
        cut += sum(len(ours[i].split()) == cap for i, cap in enumerate(caps))
    assert 0 < cut < 2 * len(caps), cut


def test_beam_agrees_on_nearly_every_sentence(data, checkpoints, exported):
    for name, checkpoint in checkpoints.items():
        agreement = _agreement(
            _ours(data, checkpoint, 5, *LIMITS), _theirs(data, checkpoint, exported[name], 5, *LIMITS)
        )
        print(f"{name}: beam 5, CTranslate2 equals nmt generate on {agreement:.1%} of 60 sentences")
        assert agreement >= 0.9


def test_outdir_holds_readme_metadata_and_our_vocabulary(post_norm, exported, capsys):
    from toolkit.train.checkpoint import load_model_for_inference

    model = exported["post_norm"]
    loaded = load_model_for_inference(post_norm)
    assert json.loads((model / "shared_vocabulary.json").read_text())[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    config = json.loads((model / "config.json").read_text())
    assert config["decoder_start_token"] == "</s>" and config["add_source_eos"] is True
    recorded = json.loads((model / "nmt_export.json").read_text())
    from toolkit.data.text_processor import TextProcessor

    assert TextProcessor.from_state(recorded["text_processors"]["de"]) == loaded.text_processors["src"]
    # The README's example runs as written: raw text in, detokenized text out.
    readme = (model / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    code = re.sub(r"^lines = .*$", 'lines = ["ein Hund läuft schnell .", "die Katze schläft ."]', code, flags=re.M)
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2 and all(printed)
    assert not any(p.name.endswith(".tmp") for p in model.parent.iterdir())  # written atomically


def test_int8_export_is_smaller_and_translates(data, variant, exported, tmp_path):
    fp32, int8 = exported["variant"], _export(variant, tmp_path / "int8", "--quantization", "int8")
    assert (int8 / "model.bin").stat().st_size < (fp32 / "model.bin").stat().st_size
    agreement = _agreement(_theirs(data, variant, fp32, 1, *LIMITS), _theirs(data, variant, int8, 1, *LIMITS))
    print(f"CTranslate2 int8 against float32, greedy: {agreement:.1%} identical")
    assert agreement >= 0.5  # 72% measured (AVX2); int8 kernels differ between CPUs


def _one_line_error(output: str, *needles: str) -> None:
    assert output.count("\n") == 1 and output.startswith("nmt: error: export: "), output
    for needle in needles:
        assert needle in output, output


def test_refuses_the_recurrent_family(post_norm, tmp_path):
    from toolkit.models import build_model, model_config_to_dict
    from toolkit.models.rnn import RNNConfig
    from toolkit.train.checkpoint import load_checkpoint, save_checkpoint

    state = load_checkpoint(post_norm)
    config = RNNConfig(encoder_embed_dim=8, encoder_hidden_size=8, decoder_embed_dim=8, decoder_hidden_size=8,
                       decoder_out_embed_dim=8)  # fmt: skip
    vocab = len(next(iter(state["dictionaries"].values()))["symbols"])
    state["config"]["model"] = model_config_to_dict("lstm", config)
    state["model"] = build_model(state["config"]["model"], vocab, vocab, 1, 2).state_dict()
    save_checkpoint(state, tmp_path / "lstm.pt")
    code, output = nmt_captured("export", "--format", "ctranslate2", str(tmp_path / "lstm.pt"), str(tmp_path / "o"))
    assert code == 2
    _one_line_error(output, "Transformer only", "--arch lstm", "recurrent")
    assert not (tmp_path / "o").exists()


def test_refuses_an_option_it_cannot_express(variant, tmp_path, monkeypatch):
    from toolkit.export import ctranslate2 as export

    monkeypatch.setattr(export, "HANDLED_OPTIONS", export.HANDLED_OPTIONS - {"learned_pos"})
    code, output = nmt_captured("export", str(variant), str(tmp_path / "o"))
    assert code == 2
    _one_line_error(output, "cannot express --learned-pos")


def test_without_the_package_says_how_to_install_it(post_norm, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_ctranslate2(name, *args, **kwargs):
        if name == "ctranslate2" or name.startswith("ctranslate2."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ctranslate2)
    code, output = nmt_captured("export", "--format", "ctranslate2", str(post_norm), str(tmp_path / "o"))
    assert code == 2
    _one_line_error(output, "pip install 'nmt[ctranslate2]'")


def test_existing_outdir_needs_force(post_norm, tmp_path):
    out = tmp_path / "ct2"
    out.mkdir()
    (out / "old").write_text("x")
    code, output = nmt_captured("export", str(post_norm), str(out))
    assert code == 2
    _one_line_error(output, "already exists", "--force")
    _export(post_norm, out, "--force")
    assert (out / "model.bin").is_file() and not (out / "old").exists()


def test_refuses_an_int8_checkpoint_of_nmt_quantize(post_norm, tmp_path):
    code, output = nmt_captured("quantize", str(post_norm), str(tmp_path / "int8.pt"))
    if code != 0:
        pytest.skip(f"nmt quantize did not run here: {output.strip()[-200:]}")
    code, output = nmt_captured("export", str(tmp_path / "int8.pt"), str(tmp_path / "o"))
    assert code == 2
    _one_line_error(output, "int8 checkpoint", "--quantization int8")
