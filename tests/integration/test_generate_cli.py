"""generate / translate / score / average-checkpoints end to end through the real CLI.

The checkpoint is built directly (a seeded transformer_tiny saved in the documented
format), so these tests do not depend on training; test_pipeline.py covers the rest.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import sacrebleu
import torch

from tests.helpers.cli import nmt
from toolkit.data.dictionary import Dictionary
from toolkit.data.indexed import IndexedDatasetBuilder, best_dtype
from toolkit.models import build_model, model_config_to_dict
from toolkit.registry import ARCHITECTURES
from toolkit.train.checkpoint import save_checkpoint

ROOT = Path(__file__).resolve().parents[2]
WORDS = [f"w{i}" for i in range(10)] + ["ab@@", "cd@@"]


def write_split(destdir: Path, split: str, dictionary: Dictionary, pairs: list[tuple[list[str], list[str]]]) -> None:
    for side, lang in ((0, "de"), (1, "en")):
        builder = IndexedDatasetBuilder(destdir / f"{split}.de-en.{lang}", best_dtype(len(dictionary)))
        for pair in pairs:
            builder.add(dictionary.encode_line(" ".join(pair[side])))
        builder.finalize()


def sentences(rng: np.random.RandomState, n: int) -> list[tuple[list[str], list[str]]]:
    pairs = []
    for _ in range(n):
        src = [WORDS[i] for i in rng.randint(0, 10, size=rng.randint(2, 7))]
        pairs.append((src, list(reversed(src))))
    return pairs


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    data = root / "data"
    data.mkdir()
    dictionary = Dictionary()
    for word in WORDS:
        dictionary.add_symbol(word, 5)
    dictionary.save(data / "dict.de.txt")
    dictionary.save(data / "dict.en.txt")
    rng = np.random.RandomState(0)
    write_split(data, "test", dictionary, sentences(rng, 12))
    write_split(data, "valid", dictionary, sentences(rng, 4))
    (data / "preprocess.json").write_text(json.dumps({"config": {"source_lang": "de", "target_lang": "en"}}))
    torch.manual_seed(0)
    config = ARCHITECTURES.resolve("transformer_tiny")[1]
    config.encoder_layers = config.decoder_layers = 1
    model_config = model_config_to_dict("transformer_tiny", config)
    model = build_model(model_config, len(dictionary), len(dictionary), dictionary.pad_index, dictionary.eos_index)
    state = {
        "config": {
            "model": model_config,
            "task": {"name": "translation", "params": {"source_lang": "de", "target_lang": "en"}},
        },
        "dictionaries": {"src": dictionary.to_state(), "tgt": dictionary.to_state()},
        "text_processors": None,
        "model": model.state_dict(),
    }
    save_checkpoint(state, root / "checkpoint1.pt")
    # A second checkpoint with perturbed weights, for ensembles and averaging.
    state["model"] = {
        k: v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v for k, v in model.state_dict().items()
    }
    save_checkpoint(state, root / "checkpoint2.pt")
    return root, data


def parse(stdout: str) -> dict[str, dict[int, list[str]]]:
    lines: dict[str, dict[int, list[str]]] = {}
    for line in stdout.splitlines():
        if len(line) > 2 and line[1] == "-" and line[0] in "STHDPA":
            key, _, rest = line.partition("\t")
            kind, idx = key.split("-")
            lines.setdefault(kind, {}).setdefault(int(idx), []).append(rest)
    return lines


def test_generate_score_and_results_file(setup, tmp_path):
    root, data = setup
    ckpt = str(root / "checkpoint1.pt")
    run = nmt(
        "generate",
        str(data),
        "--path",
        ckpt,
        "--beam",
        "3",
        "--nbest",
        "2",
        "--max-len-b",
        "8",
        "--batch-size",
        "5",
        "--print-alignment",
        "--cpu",
    )
    assert run.returncode == 0, run.stderr
    out = parse(run.stdout)
    assert sorted(out["S"]) == list(range(12))
    assert [line.split("\t")[0].startswith("S-") for line in run.stdout.splitlines()[:1]] == [True]
    ids_in_order = [int(line.split("\t")[0][2:]) for line in run.stdout.splitlines() if line.startswith("S-")]
    assert ids_in_order == sorted(ids_in_order)
    assert all(
        len(out["H"][i]) == 2 and len(out["D"][i]) == 2 and len(out["P"][i]) == 2 and len(out["A"][i]) == 2
        for i in range(12)
    )
    for i in range(12):
        score, text = out["H"][i][0].split("\t")
        positional = [float(x) for x in out["P"][i][0].split()]
        assert float(score) == pytest.approx(sum(positional) / len(positional), abs=1e-3)
        assert len(positional) == len(text.split()) + 1
    assert "sentences/s" in run.stdout and "BLEU|nrefs:1" in run.stdout

    hyps = [out["D"][i][0].split("\t")[1] for i in range(12)]
    refs = [out["T"][i][0] for i in range(12)]
    expected = sacrebleu.corpus_bleu(hyps, [refs]).score

    results = tmp_path / "results"
    run = nmt(
        "generate",
        str(data),
        "--path",
        ckpt,
        "--beam",
        "3",
        "--max-len-b",
        "8",
        "--results-path",
        str(results),
        "--quiet",
    )
    assert run.returncode == 0, run.stderr
    assert "S-" not in run.stdout and "BLEU" in run.stdout
    result_file = results / "generate-test.txt"
    assert parse(result_file.read_text())["D"].keys() == set(range(12))
    record = json.loads((results / "generate-test.json").read_text())  # the full configuration, and the figures
    assert record["config"]["search"]["beam"] == 3 and record["config"]["search"]["max_len_b"] == 8
    assert record["config"]["path"] == ckpt and record["summary"]["sentences"] == 12
    score = nmt("score", "--sys", str(result_file), "--json")
    assert score.returncode == 0, score.stderr
    assert json.loads(score.stdout)["scores"][0]["score"] == pytest.approx(expected, abs=1e-6)


def test_translate_matches_generate_and_ensembles(setup, tmp_path):
    root, data = setup
    ckpt = str(root / "checkpoint1.pt")
    gen = nmt("generate", str(data), "--path", ckpt, "--beam", "2", "--max-len-b", "8", "--gen-subset", "valid")
    assert gen.returncode == 0, gen.stderr
    out = parse(gen.stdout)
    sources = [out["S"][i][0] for i in range(4)]
    stdin = "\n".join([sources[0], "", sources[1], sources[2], "   ", sources[3]]) + "\n"
    run = nmt("translate", "--path", ckpt, "--beam", "2", "--max-len-b", "8", "--buffer-size", "2", stdin=stdin)
    assert run.returncode == 0, run.stderr
    expected = [out["D"][i][0].split("\t")[1] for i in range(4)]
    assert run.stdout.splitlines() == [expected[0], "", expected[1], expected[2], "", expected[3]]
    # --input FILE and the interactive alias, with an ensemble of the model with itself.
    source_file = tmp_path / "in.txt"
    source_file.write_text(stdin)
    run2 = nmt(
        "interactive", "--path", f"{ckpt}:{ckpt}", "--beam", "2", "--max-len-b", "8", "--input", str(source_file)
    )
    assert run2.returncode == 0, run2.stderr
    assert run2.stdout == run.stdout


def test_average_checkpoints_then_generate(setup, tmp_path):
    root, data = setup
    avg = tmp_path / "avg.pt"
    run = nmt("average-checkpoints", "--inputs", str(root), "--num-epoch-checkpoints", "2", "--output", str(avg))
    assert run.returncode == 0, run.stderr
    gen = nmt(
        "generate",
        str(data),
        "--path",
        str(avg),
        "--beam",
        "2",
        "--max-len-b",
        "6",
        "--quiet",
        "--score-reference",
        "--plot-attention",
        str(tmp_path / "plots"),
        "--plot-limit",
        "3",
    )
    assert gen.returncode == 0, gen.stderr
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [f"attention-{i}.png" for i in range(3)]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--nbest", "3", "--beam", "2"], "--nbest"),
        (["--gen-subset", "test7"], "test7"),
        (["--path", "/nonexistent/model.pt"], "checkpoint not found"),
        (["--plot-attention", "/dev/null/plots"], "--plot-attention /dev/null/plots: Not a directory"),
    ],
)
def test_generate_bad_input_is_one_line(setup, tmp_path, args, message):
    root, data = setup
    results = tmp_path / "results"
    run = nmt("generate", str(data), "--path", str(root / "checkpoint1.pt"), "--results-path", str(results), *args)
    assert run.returncode == 2
    assert message in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert not results.exists() or not any(results.iterdir())


def test_mismatched_dictionary_and_empty_input(setup, tmp_path):
    root, data = setup
    other = tmp_path / "other"
    other.mkdir()
    for name in os.listdir(data):
        (other / name).write_bytes((data / name).read_bytes())
    (other / "dict.en.txt").write_text((data / "dict.en.txt").read_text() + "extra 1\n")
    results = tmp_path / "results"
    run = nmt("generate", str(other), "--path", str(root / "checkpoint1.pt"), "--results-path", str(results))
    assert run.returncode == 2 and "dictionary" in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and not results.exists()
    # An empty split is refused by name.
    (other / "dict.en.txt").write_bytes((data / "dict.en.txt").read_bytes())
    write_split(other, "test1", Dictionary.load(data / "dict.de.txt"), [])
    run = nmt("generate", str(other), "--path", str(root / "checkpoint1.pt"), "--gen-subset", "test1")
    assert run.returncode == 2 and "'test1' is empty" in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    run = nmt("translate", "--path", str(root / "checkpoint1.pt"), stdin="")
    assert run.returncode == 2 and "empty" in run.stderr
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"garbage")
    run = nmt("translate", "--path", str(corrupt), stdin="w1\n")
    assert run.returncode == 2 and "corrupt.pt" in run.stderr and "Traceback" not in run.stderr


def test_interrupted_generate_leaves_no_results_file(setup, tmp_path, monkeypatch):
    from toolkit.search.generator import SequenceGenerator
    from toolkit.search.subset import GenerateConfig, generate_subset

    root, data = setup
    calls = []

    def interrupt(self, src_tokens, src_lengths):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, src_tokens, src_lengths)

    original = SequenceGenerator.generate
    monkeypatch.setattr(SequenceGenerator, "generate", interrupt)
    results, plots = tmp_path / "results", tmp_path / "plots"
    config = GenerateConfig(
        data=str(data),
        path=str(root / "checkpoint1.pt"),
        batch_size=3,
        results_path=str(results),
        plot_attention=str(plots),
        cpu=True,
    )
    with pytest.raises(KeyboardInterrupt):
        generate_subset(config)
    assert not results.exists() or not any(results.iterdir())
    assert not plots.exists() or not any(plots.iterdir()), "an interrupted run must not leave some pictures"
    calls.clear()
    monkeypatch.setattr(SequenceGenerator, "generate", original)
    generate_subset(config, out=io.StringIO())
    assert sorted(p.name for p in plots.iterdir()) == sorted(f"attention-{i}.png" for i in range(12))


def test_translate_streams_block_by_block(setup):
    from toolkit.search.interactive import TranslateConfig, translate_stream

    root, _ = setup
    events = []

    def lines():
        for i in range(5):
            events.append(f"read {i}")
            yield f"w{i} w{i + 1}"

    class Out:
        def write(self, text):
            events.append(f"wrote {text.count(chr(10))}")

        def flush(self):
            pass

    config = TranslateConfig(path=str(root / "checkpoint1.pt"), buffer_size=2, cpu=True)
    config.search.max_len_b = 4
    assert translate_stream(config, lines(), Out()) == 5
    assert events == ["read 0", "read 1", "wrote 2", "read 2", "read 3", "wrote 2", "read 4", "wrote 1"]


def test_plot_attention_without_matplotlib_is_a_user_error(monkeypatch):
    import builtins

    from toolkit.errors import UserError
    from toolkit.plotting import require_matplotlib

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(UserError, match="pip install matplotlib"):
        require_matplotlib()


def test_bf16_without_native_support_generates_the_fp32_output(setup, monkeypatch, capsys):
    from toolkit import hardware
    from toolkit.search.interactive import TranslateConfig, Translator
    from toolkit.search.subset import GenerateConfig, generate_subset

    root, data = setup
    ckpt = str(root / "checkpoint1.pt")

    def generate(bf16: bool) -> str:
        out = io.StringIO()
        generate_subset(GenerateConfig(data=str(data), path=ckpt, bf16=bf16, cpu=True), out=out)
        return "\n".join(line for line in out.getvalue().splitlines() if line[:2] in ("H-", "P-"))

    fp32 = generate(False)
    monkeypatch.setattr(hardware, "native_bf16", lambda device: False)
    assert generate(True) == fp32
    assert capsys.readouterr().err.count("warning: --bf16 ignored") == 1
    Translator(TranslateConfig(path=ckpt, bf16=True, cpu=True))
    assert "warning: --bf16 ignored" in capsys.readouterr().err
