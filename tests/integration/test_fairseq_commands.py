"""Command lines from fairseq's documentation, program name replaced by `nmt`, run as typed.

Sources: the translation example (IWSLT'14 de-en preprocess / train / generate), "Getting started"
(fconv train, generate, interactive), the back-translation example (monolingual preprocess,
generate with sampling, train with --upsample-primary) and fairseq-score. Each line either runs
(with a short budget appended where it trains) or stops with its documented one-line refusal.
The fconv line, --eval-bleu and --upsample-primary (once refusals, until their issues landed) now run.
"""

from __future__ import annotations

import random
import shlex
from pathlib import Path

import pytest
import torch

from tests.helpers.cli import nmt, nmt_captured
from tests.helpers.pipeline import tiny_checkpoint

# Tiny models: the documented flags stay as typed, these only shrink the model and the run.
BUDGET = (
    "--max-update 2 --encoder-layers 1 --decoder-layers 1 --encoder-embed-dim 32 --decoder-embed-dim 32 "
    "--encoder-ffn-embed-dim 64 --decoder-ffn-embed-dim 64 --encoder-attention-heads 2 "
    "--decoder-attention-heads 2 --log-format simple --threads 1"
)
_DE = "ein zwei hund katze läuft schnell langsam über die straße im garten großen kleinen".split()
_EN = "a two dog cat runs fast slowly across the street in garden big small".split()


def _segment(word: str) -> str:
    """A stand-in for subword-nmt: long words split once, with fairseq's '@@ ' marker."""
    return f"{word[:3]}@@ {word[3:]}" if len(word) > 5 else word


def _write_presegmented(text: Path) -> None:
    """Tokenized, lowercased, BPE-segmented text, as fairseq's prepare-iwslt14.sh leaves it."""
    rng = random.Random(3)
    text.mkdir()
    for split, n in (("train", 160), ("valid", 12), ("test", 12), ("mono", 20)):
        rows = []
        for _ in range(n):
            idx = [rng.randrange(len(_DE)) for _ in range(rng.randint(2, 7))]
            rows.append((" ".join(_segment(_DE[i]) for i in idx), " ".join(_segment(_EN[i]) for i in idx)))
        for k, lang in enumerate(("de", "en")):
            (text / f"{split}.{lang}").write_text("".join(r[k] + " .\n" for r in rows), encoding="utf-8")


@pytest.fixture(scope="module")
def fairseq_world(tmp_path_factory) -> dict[str, str]:
    """$TEXT (pre-segmented), $DATA and $CKPT made by fairseq's own commands, and a raw-text model."""
    root = tmp_path_factory.mktemp("fairseq")
    _write_presegmented(root / "text")
    world = {"TEXT": str(root / "text"), "DATA": str(root / "data-bin"), "CKPT": str(root / "checkpoints")}
    world["MONO"] = str(root / "mono-bin")
    raw = root / "raw"
    raw.mkdir()
    world["RAWCKPT"] = str(tiny_checkpoint(raw))  # nmt's own preprocessing: $RAW/bin/bpecodes exists
    world["RAW"] = str(raw / "bin")
    for line in (PREPROCESS, TRAIN):
        result = _run(line, world)
        assert result.returncode == 0, f"{line}\n{result.stderr[-1500:]}"
    return world


def _run(line: str, world: dict[str, str], extra: str = ""):
    for name, value in world.items():
        line = line.replace(f"${name}", value)
    argv = shlex.split(line + " " + extra)
    assert argv[0].startswith("fairseq-")
    command = argv[0].removeprefix("fairseq-")
    return nmt(command, *argv[1:], threads=1, timeout=300)


PREPROCESS = (
    "fairseq-preprocess --source-lang de --target-lang en --trainpref $TEXT/train --validpref $TEXT/valid "
    "--testpref $TEXT/test --destdir $DATA --workers 20"
)
TRAIN = (
    "fairseq-train $DATA --arch transformer_iwslt_de_en --share-decoder-input-output-embed --optimizer adam "
    "--adam-betas '(0.9, 0.98)' --clip-norm 0.0 --lr 5e-4 --lr-scheduler inverse_sqrt --warmup-updates 4000 "
    "--dropout 0.3 --weight-decay 0.0001 --criterion label_smoothed_cross_entropy --label-smoothing 0.1 "
    "--max-tokens 4096 --save-dir $CKPT " + BUDGET
)
EVAL_BLEU = (
    ' --eval-bleu --eval-bleu-args \'{"beam": 5, "max_len_a": 1.2, "max_len_b": 10}\' --eval-bleu-detok moses '
    "--eval-bleu-remove-bpe --eval-bleu-print-samples --best-checkpoint-metric bleu --maximize-best-checkpoint-metric"
)

RUNS = {
    "generate (translation README)": "fairseq-generate $DATA --path $CKPT/checkpoint_best.pt --batch-size 128 "
    "--beam 5 --remove-bpe",
    "generate (getting started)": "fairseq-generate $DATA --path $CKPT/checkpoint_best.pt --batch-size 128 --beam 5",
    "generate (wmt16 README)": "fairseq-generate $DATA --path $CKPT/checkpoint_best.pt --beam 4 --lenpen 0.6 "
    "--remove-bpe",
    "generate, sampling (back-translation)": "fairseq-generate --fp16 $DATA --path $CKPT/checkpoint_best.pt "
    "--skip-invalid-size-inputs-valid-test --max-tokens 4096 --sampling --beam 1 --gen-subset valid",
    "generate, sacrebleu (older spelling)": "fairseq-generate $DATA --path $CKPT/checkpoint_best.pt --beam 5 "
    "--remove-bpe --sacrebleu --quiet",
    "preprocess, monolingual (back-translation)": "fairseq-preprocess --only-source --source-lang de "
    "--target-lang en --joined-dictionary --srcdict $DATA/dict.de.txt --testpref $TEXT/mono --destdir $MONO "
    "--workers 20",
}

BITEXT_BT = (
    "fairseq-train --fp16 $DATA --source-lang en --target-lang de --arch transformer_wmt_en_de_big "
    "--share-all-embeddings --dropout 0.3 --weight-decay 0.0 --criterion label_smoothed_cross_entropy "
    "--label-smoothing 0.1 --optimizer adam --adam-betas '(0.9, 0.98)' --clip-norm 0.0 --lr 0.001 "
    "--lr-scheduler inverse_sqrt --warmup-updates 4000 --max-tokens 3584 --update-freq 16 "
    "--max-update 100000 --upsample-primary 16"
)
TRAIN_RUNS = {
    "train with validation BLEU (translation README)": TRAIN.replace("$CKPT", "$CKPT/bleu") + EVAL_BLEU,
    # fp16 is for GPUs; on a CPU the same line without it, on a joined dictionary (--share-all-embeddings)
    # whose split is de-en: it serves en->de too
    "train on bitext + back-translation (back-translation README)": BITEXT_BT.replace("--fp16 ", "").replace(
        "$DATA", "$RAW"
    )
    + " --save-dir $CKPT/bt",
    "fconv (getting started)": "fairseq-train $DATA --lr 0.25 --clip-norm 0.1 --dropout 0.2 --max-tokens 4000 "
    "--arch fconv_iwslt_de_en --save-dir $CKPT/fconv",
}
# The budget for the fconv line: its structure at test size.
FCONV_BUDGET = (
    "--max-update 2 --encoder-layers '[(32, 3)] * 2' --decoder-layers '[(32, 3)]' --encoder-embed-dim 32 "
    "--decoder-embed-dim 32 --decoder-out-embed-dim 32 --log-format simple --threads 1"
)

REFUSALS = {
    "big transformer in fp16 (translation README)": (
        "fairseq-train $DATA --arch transformer_vaswani_wmt_en_de_big --share-all-embeddings --optimizer adam "
        "--adam-betas '(0.9, 0.98)' --clip-norm 0.0 --lr 5e-4 --lr-scheduler inverse_sqrt --warmup-updates 4000 "
        "--warmup-init-lr 1e-07 --dropout 0.3 --weight-decay 0.0 --criterion label_smoothed_cross_entropy "
        "--label-smoothing 0.1 --max-tokens 3584 --fp16",
        "--fp16 needs a GPU",
    ),
    "train on bitext + back-translation in fp16 (back-translation README)": (BITEXT_BT, "--fp16 needs a GPU"),
}


def test_preprocess_and_train_lines_ran(fairseq_world):
    data, ckpt = Path(fairseq_world["DATA"]), Path(fairseq_world["CKPT"])
    meta = (data / "preprocess.json").read_text(encoding="utf-8")
    assert '"tokenize": "none"' in meta and '"bpe": "none"' in meta  # pre-segmented input taken as it is
    assert "gre@@" not in meta and "gro@@" in (data / "dict.de.txt").read_text(encoding="utf-8")
    assert (ckpt / "checkpoint_best.pt").is_file() and (ckpt / "checkpoint_last.pt").is_file()


@pytest.mark.parametrize("name", list(RUNS))
def test_documented_line_runs(fairseq_world, name):
    result = _run(RUNS[name], fairseq_world)
    assert result.returncode == 0, f"{RUNS[name]}\n{result.stderr[-1500:]}"
    assert "Traceback" not in result.stderr
    if name.startswith("generate"):
        hypotheses = [line for line in result.stdout.splitlines() if line.startswith("H-")]
        assert ("--quiet" in RUNS[name]) == (not hypotheses)
        if "--remove-bpe" in RUNS[name]:
            assert not any("@@ " in line for line in hypotheses)
        assert "BLEU" in result.stdout
    if "--fp16" in RUNS[name]:
        assert "--fp16 is fairseq's" in result.stderr
    if name.startswith("preprocess"):
        assert (Path(fairseq_world["MONO"]) / "test.de-None.de.bin").is_file()


@pytest.mark.parametrize("name", list(TRAIN_RUNS))
def test_documented_training_line_runs(fairseq_world, name):
    import json

    fconv = "fconv" in TRAIN_RUNS[name]
    result = _run(TRAIN_RUNS[name], fairseq_world, FCONV_BUDGET if fconv else BUDGET)
    assert result.returncode == 0, f"{TRAIN_RUNS[name]}\n{result.stderr[-1500:]}"
    save = Path(fairseq_world["CKPT"]) / ("bleu" if "--eval-bleu" in TRAIN_RUNS[name] else "fconv" if fconv else "bt")
    log = [json.loads(line) for line in (save / "train_log.jsonl").read_text().splitlines()]
    valid = [record for record in log if record["type"] == "valid"]
    assert valid and (save / "checkpoint_best.pt").is_file()
    if fconv:
        state = torch.load(save / "checkpoint_last.pt", weights_only=True)
        assert state["config"]["model"]["family"] == "fconv" and max(r["update"] for r in log) == 2
    elif "--eval-bleu" in TRAIN_RUNS[name]:
        assert "bleu" in valid[-1] and "best_bleu" in valid[-1] and "example hypothesis:" in result.stdout
    else:
        assert "training on train 120 x16 (1920 an epoch)" in result.stdout
        state = torch.load(save / "checkpoint_last.pt", weights_only=True)
        assert state["languages"]["source"] == "en" and state["languages"]["target"] == "de"


def test_interactive_line_runs(fairseq_world):
    line = (
        "fairseq-interactive --path $RAWCKPT $RAW --beam 5 --source-lang de --target-lang en --tokenizer moses "
        "--bpe subword_nmt --bpe-codes $RAW/bpecodes"
    )
    argv = shlex.split(line.replace("$RAWCKPT", fairseq_world["RAWCKPT"]).replace("$RAW", fairseq_world["RAW"]))
    result = nmt("interactive", *argv[1:], stdin="ein Hund läuft .\nKatze\n", threads=1)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2 and "note" not in result.stderr  # the checkpoint's own codes


def test_score_line_runs(fairseq_world, tmp_path):
    (tmp_path / "gen.sys").write_text("a dog runs .\nthe cat .\n", encoding="utf-8")
    (tmp_path / "gen.ref").write_text("a dog runs fast .\nthe cat .\n", encoding="utf-8")
    code, output = nmt_captured("score", "--sys", str(tmp_path / "gen.sys"), "--ref", str(tmp_path / "gen.ref"))
    assert code == 0 and output.startswith("BLEU|")
    code, again = nmt_captured("score", "-s", str(tmp_path / "gen.sys"), "-r", str(tmp_path / "gen.ref"), "--sacrebleu")
    assert code == 0 and again == output


@pytest.mark.parametrize("name", list(REFUSALS))
def test_documented_line_is_refused_in_one_line(fairseq_world, name):
    line, reason = REFUSALS[name]
    if reason.startswith("--fp16") and torch.cuda.is_available():
        pytest.skip("--fp16 trains on a GPU")
    result = _run(line, fairseq_world)
    assert result.returncode == 2, result.stderr[-1500:]
    errors = [x for x in result.stderr.splitlines() if x.startswith("nmt: error:")]
    assert len(errors) == 1 and reason in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def test_interactive_checks_data_languages_and_codes(fairseq_world, tmp_path):
    ckpt, raw = fairseq_world["RAWCKPT"], fairseq_world["RAW"]
    (tmp_path / "in.de").write_text("ein Hund läuft .\n", encoding="utf-8")
    source = ["--input", str(tmp_path / "in.de")]
    code, output = nmt_captured("interactive", fairseq_world["DATA"], "--path", ckpt, *source)
    assert code == 2 and output.count("\n") == 1 and "differs from the source dictionary" in output
    code, output = nmt_captured("interactive", raw, "--path", ckpt, "--source-lang", "fr", *source)
    assert code == 2 and "--source-lang fr" in output and "translates de -> en" in output
    (tmp_path / "codes").write_text("#version: 0.2\nl ä\n", encoding="utf-8")
    code, output = nmt_captured("interactive", raw, "--path", ckpt, "--bpe-codes", str(tmp_path / "codes"), *source)
    assert code == 0 and "note: --bpe-codes" in output and "differ from the codes stored" in output


def test_scoring_bleu_is_bleu4_of_the_h_lines_and_sacrebleu_names_itself(fairseq_world):
    import sacrebleu

    line = "fairseq-generate $DATA --path $CKPT/checkpoint_best.pt --beam 2 --remove-bpe --scoring bleu"
    result = _run(line, fairseq_world)
    assert result.returncode == 0, result.stderr
    rows = [x.split("\t") for x in result.stdout.splitlines()]
    hyps = {r[0][2:]: r[2] for r in rows if r[0].startswith("H-")}
    refs = {r[0][2:]: r[1] for r in rows if r[0].startswith("T-")}  # tokenize none: T- is the tokenized form
    order = sorted(hyps, key=int)
    assert order and not any("@@ " in hyps[i] + refs[i] for i in order)
    expected = sacrebleu.corpus_bleu([hyps[i] for i in order], [[refs[i] for i in order]], tokenize="none")
    printed = [x for x in result.stdout.splitlines() if "BLEU4 = " in x]
    assert len(printed) == 1 and float(printed[0].split("BLEU4 = ")[1].split(",")[0]) == pytest.approx(
        expected.score, abs=0.01
    )
    sacre = _run(line.replace("--scoring bleu", "--sacrebleu --quiet"), fairseq_world)
    assert sacre.returncode == 0 and "BLEU|nrefs:1" in sacre.stdout and "BLEU4" not in sacre.stdout


def test_interactive_takes_segmented_input_with_tokenizer_none_bpe_none(fairseq_world, tmp_path):
    (tmp_path / "in.de").write_text("ein Hund läuft .\n", encoding="utf-8")
    code, output = nmt_captured(
        "interactive", "--path", fairseq_world["RAWCKPT"], "--tokenizer", "none", "--bpe", "none",
        "--input", str(tmp_path / "in.de"),
    )  # fmt: skip
    assert code == 0, output
    assert "note: --tokenizer none: the checkpoint was trained with moses" in output
    assert "note: --bpe none: the checkpoint was trained with BPE" in output
