"""One option system for every subcommand: fairseq spellings, one-line errors, readable --help."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from cli import fairseq_compat
from cli.main import COMMANDS
from cli.options import parse_command
from tests.helpers.cli import REPO, nmt_captured
from toolkit.errors import UserError
from toolkit.search.interactive import TranslateConfig
from toolkit.search.subset import GenerateConfig


def _generate(*argv: str) -> GenerateConfig:
    return parse_command("nmt generate", "", GenerateConfig, ["DATA", "--path", "m.pt", *argv])


def test_remove_bpe_value_is_optional_as_in_fairseq():
    assert _generate().remove_bpe == "@@ "  # nmt's default
    assert _generate("--remove-bpe").remove_bpe == "@@ "  # bare, last
    bare_then_flag = _generate("--remove-bpe", "--quiet")
    assert bare_then_flag.remove_bpe == "@@ " and bare_then_flag.quiet is True  # the flag is not swallowed
    assert _generate("--remove-bpe", "none").remove_bpe is None
    assert _generate("--remove-bpe=@@").remove_bpe == "@@"
    assert _generate("--remove-bpe", "--beam", "3").search.beam == 3
    assert _generate("--remove-bpe", "subword_nmt").remove_bpe == "@@ "  # fairseq's name for the marker
    with pytest.raises(UserError, match="--remove-bpe sentencepiece: nmt segments with subword-nmt"):
        _generate("--remove-bpe", "sentencepiece")


def test_fairseq_batch_spellings():
    assert _generate("--max-sentences", "16").batch_size == 16
    assert _generate("--batch-size", "16").batch_size == 16
    translate = parse_command("nmt translate", "", TranslateConfig, ["--path", "m.pt", "--max-sentences", "4"])
    assert translate.batch_size == 4 and translate.data is None
    # "none" is a value of these options, not "unset": the checkpoint's tokenizer and BPE are then not used.
    plain = parse_command(
        "nmt translate", "", TranslateConfig, ["--path", "m.pt", "--tokenizer", "none", "--bpe", "none"]
    )
    assert (plain.tokenizer, plain.bpe) == ("none", "none")
    assert _generate("--tokenizer", "none").tokenizer == "none" and _generate().tokenizer is None
    from cli.train import build_setup

    setup = build_setup(["DATA", "--batch-size", "8", "--no-progress-bar", "--save-interval", "2"])
    assert (setup.train.max_sentences, setup.train.no_progress_bar, setup.train.save_interval) == (8, True, 2)
    assert setup.task.data == "DATA"
    short = build_setup(["DATA", "-a", "transformer_tiny", "-s", "de", "-t", "en"])
    assert (short.train.arch, short.task.source_lang, short.task.target_lang) == ("transformer_tiny", "de", "en")


def test_fairseq_architecture_names_are_aliases_of_our_presets():
    from cli.train import build_setup
    from toolkit.models.transformer import TransformerConfig, transformer_big

    assert build_setup(["D", "--arch", "transformer_wmt_en_de"]).model == TransformerConfig()
    assert build_setup(["D", "--arch", "transformer_vaswani_wmt_en_de_big"]).model == transformer_big()
    t2t = build_setup(["D", "--arch", "transformer_wmt_en_de_big_t2t"]).model
    assert t2t.normalize_before and t2t.encoder_embed_dim == 1024 and t2t.attention_dropout == 0.1
    both = build_setup(["D", "--arch", "transformer", "--encoder-normalize-before", "--decoder-learned-pos"]).model
    assert both.normalize_before and both.learned_pos
    with pytest.raises(UserError, match="fairseq's .*transformer_wmt_en_de"):
        build_setup(["D", "--arch", "transformr"])


def test_compat_table_notes_rewrites_and_refuses():
    notes: list[str] = []
    argv = ["D", "--num-workers", "4", "--dataset-impl=mmap", "--beam", "2", "--sacrebleu", "--fp16"]
    assert fairseq_compat.apply("generate", argv, notes.append) == [
        "D", "--beam", "2", "--scoring", "sacrebleu", "--bf16"
    ]  # fmt: skip
    assert len(notes) == 3 and all("fairseq's" in n for n in notes)
    assert any(n.startswith("generate: --num-workers is fairseq's") for n in notes)
    with pytest.raises(UserError, match=r"^--memory-efficient-fp16: there is no memory-efficient fp16"):
        fairseq_compat.apply("train", ["D", "--memory-efficient-fp16"], notes.append)
    with pytest.raises(UserError, match=r"^--diverse-beam-groups: "):
        fairseq_compat.apply("generate", ["D", "--diverse-beam-groups=2"], notes.append)
    assert fairseq_compat.apply("train", ["D", "--eval-bleu", "--upsample-primary=16"], notes.append) == [
        "D",
        "--eval-bleu",
        "--upsample-primary=16",
    ]  # fmt: skip  (features of their own now, no longer refused)
    assert fairseq_compat.apply("score", ["--sys", "x", "--sacrebleu"], notes.append) == ["--sys", "x"]
    # A rewrite goes last, so it wins over a later nmt flag as the fairseq flag does; optional values.
    assert fairseq_compat.apply("generate", ["--unnormalized", "--lenpen", "0.6"], notes.append)[-2:] == [
        "--lenpen", "0"
    ]  # fmt: skip
    assert fairseq_compat.apply("generate", ["--print-alignment", "hard", "D"], notes.append) == [
        "D", "--print-alignment"
    ]  # fmt: skip
    with pytest.raises(UserError, match="--print-alignment soft: nmt supports only hard"):
        fairseq_compat.apply("generate", ["--print-alignment", "soft"], notes.append)
    # fairseq's --min-lr is a stop threshold: noted, unless the cosine schedule (whose floor it is) is chosen.
    assert fairseq_compat.apply("train", ["D", "--min-lr", "1e-9"], notes.append) == ["D"]
    cosine = ["D", "--lr-scheduler", "cosine", "--min-lr", "1e-9"]
    assert fairseq_compat.apply("train", cosine, notes.append) == cosine


# One unknown option and one bad value per subcommand: one line, naming the subcommand and the option.
BAD = {
    "preprocess": (["--bpe-merges", "many"], "--bpe-merges"),
    "train": (["D", "--max-update", "soon"], "--max-update"),
    "generate": (["D", "--path", "m.pt", "--beam", "wide"], "--beam"),
    "translate": (["--path", "m.pt", "--lenpen", "high"], "--lenpen"),
    "interactive": (["--path", "m.pt", "--tokenizer", "spacy"], "--tokenizer"),
    "score": (["--sys", "s", "--order", "five"], "--order"),
    "average-checkpoints": (["--inputs", "d", "--output", "o", "--num-epoch-checkpoints", "x"], "--num-epoch"),
    "plot": (["run", "--output"], "--output"),
    "quantize": (["a.pt"], "OUTPUT"),
    "export": (["CKPT", "OUT", "--quantization", "int4"], "--quantization"),
    "info": (["--device", "tpu"], "--device"),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_subcommand_fails_alike(command):
    for argv, named in ((["--no-such-option"], "--no-such-option"), BAD[command]):
        code, output = nmt_captured(command, *argv)
        assert code == 2, output
        assert output.count("\n") == 1 and "Traceback" not in output, output
        assert output.startswith(f"nmt: error: {command}: ") and named in output, output


def test_a_missing_argument_is_reported_after_an_unknown_option():
    code, output = nmt_captured("generate", "--bogus")
    assert code == 2 and "unrecognized arguments: --bogus" in output
    code, output = nmt_captured("generate")
    assert code == 2 and "required: DATA, --path" in output
    code, output = nmt_captured("frobnicate")
    assert code == 2 and "unknown command 'frobnicate'" in output


def _option_names(command: str) -> list[str]:
    """Every option string the subcommand's parser shows (the hidden positive spellings excluded)."""
    import argparse

    from cli.options import build_parser

    if command == "train":
        from cli import train

        captured: list[argparse.ArgumentParser] = []
        original = train.OptionParser.parse_args

        def grab(self, args=None, namespace=None):
            captured.append(self)
            return original(self, args, namespace)

        train.OptionParser.parse_args = grab
        try:
            train.build_setup(["D"])
        finally:
            train.OptionParser.parse_args = original
        parser = captured[-1]
    else:
        module = __import__(COMMANDS[command][0], fromlist=["run"])
        config_cls = {
            "preprocess": "toolkit.data.preprocess:PreprocessConfig",
            "generate": "toolkit.search.subset:GenerateConfig",
            "translate": "toolkit.search.interactive:TranslateConfig",
            "interactive": "toolkit.search.interactive:TranslateConfig",
            "score": "toolkit.scoring.report:ScoreRunConfig",
            "average-checkpoints": "toolkit.train.average:AverageConfig",
            "plot": "cli.plot:PlotConfig",
            "quantize": "toolkit.quantize.checkpoint:QuantizeConfig",
            "export": "toolkit.export.ctranslate2:ExportConfig",
            "info": "cli.info:InfoConfig",
        }[command]
        where, name = config_cls.split(":")
        parser = build_parser("nmt " + command, module.DESCRIPTION, getattr(__import__(where, fromlist=[name]), name))
    return [s for a in parser._actions if a.help != argparse.SUPPRESS for s in a.option_strings]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_help_in_a_pipe_fits_80_columns_with_every_option_name_whole(command):
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run(
        [sys.executable, "-m", "cli", command, "--help"], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines and max(len(line) for line in lines) <= 80
    names = _option_names(command)
    assert len(names) >= 2
    # Only the lines that name options (not help texts that mention them) count.
    invocations = "\n".join(line for line in lines if re.match(r"^ {2,6}-", line))
    for name in names:
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", invocations), f"{name} is not whole"


def test_top_level_help_imports_no_torch():
    code = "import sys; from cli.main import main; main(['--help']); print('torch' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip().splitlines()[-1] == "False"
    assert "preprocess" in result.stdout and "average-checkpoints" in result.stdout


def test_score_json_records_the_full_configuration(tmp_path):
    (tmp_path / "h").write_text("a b c d\n", encoding="utf-8")
    (tmp_path / "r").write_text("a b c d\n", encoding="utf-8")
    code, output = nmt_captured(
        "score", "-s", str(tmp_path / "h"), "-r", str(tmp_path / "r"), "--json", "--ignore-case"
    )
    assert code == 0, output
    report = json.loads(output)
    assert report["config"]["score"]["lowercase"] is True and report["config"]["order"] == 4
    assert report["scores"][0]["score"] == pytest.approx(100.0)


def test_plot_command_writes_the_curves(tmp_path):
    pytest.importorskip("matplotlib")
    records = [{"type": "train", "update": u, "loss": 9.0 - u, "nll_loss": 8.0 - u, "lr": 1e-4 * u, "time": u}
               for u in range(1, 5)]  # fmt: skip
    records.append({"type": "valid", "update": 4, "loss": 6.5, "nll_loss": 6.0, "time": 5.0})
    (tmp_path / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    code, output = nmt_captured("plot", str(tmp_path))
    assert code == 0, output
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, output = nmt_captured("plot", str(tmp_path / "nowhere"))
    assert code == 2 and output.count("\n") == 1 and "nowhere" in output
