"""`nmt score` against sacreBLEU's own API, generate-output parsing, significance."""

from __future__ import annotations

import json

import pytest
import sacrebleu
import sacrebleu.significance as sacrebleu_significance
from sacremoses import MosesTokenizer

from tests.helpers.cli import nmt_captured, nmt_in_process
from toolkit.errors import UserError
from toolkit.scoring import ScoreConfig, corpus_scores, read_system
from toolkit.scoring.bleu import build_metrics
from toolkit.scoring.significance import paired_bootstrap

HYPS = ["The cat sat on the mat.", "A dog barks, loudly!", "Hello world", "Two men are playing soccer."] * 3
REFS = ["The cat sat on a mat.", "The dog barks loudly!", "Hello there, world", "Two men play football."] * 3
BASE = ["cat mat", "dog", "Hello", "Two men."] * 3


def write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def run(*args):
    return nmt_captured(*args)


@pytest.mark.parametrize("lowercase,tokenize", [(False, "13a"), (True, "13a"), (False, "intl"), (False, "none")])
def test_bleu_equals_sacrebleu(tmp_path, lowercase, tokenize):
    sys_file, ref_file = write(tmp_path / "h", HYPS), write(tmp_path / "r", REFS)
    args = ["score", "--sys", str(sys_file), "--ref", str(ref_file), "--json", "--tokenize", tokenize]
    code, out = run(*args + (["--lowercase"] if lowercase else []))
    assert code == 0, out
    ours = json.loads(out)["scores"][0]
    expected = sacrebleu.corpus_bleu(HYPS, [REFS], lowercase=lowercase, tokenize=tokenize)
    assert ours["score"] == pytest.approx(expected.score, abs=1e-4)
    assert f"tok:{tokenize}" in ours["signature"]


def test_chrf_and_ter_equal_sacrebleu():
    scores = {s.name: s.score for s in corpus_scores(HYPS, REFS, ScoreConfig(metrics=["bleu", "chrf", "ter"]))}
    assert scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score)
    assert scores["ter"] == pytest.approx(sacrebleu.corpus_ter(HYPS, [REFS]).score)


def test_moses_protocol_is_tokenized_lowercased_bleu():
    tok = MosesTokenizer(lang="en")
    hyps = [tok.tokenize(h, escape=False, return_str=True).lower() for h in HYPS]
    refs = [tok.tokenize(r, escape=False, return_str=True).lower() for r in REFS]
    expected = sacrebleu.corpus_bleu(hyps, [refs], tokenize="none")
    (ours,) = corpus_scores(HYPS, REFS, ScoreConfig(tokenize="moses"))
    assert ours.score == pytest.approx(expected.score)
    assert "tok:none" in ours.signature and "case:lc" in ours.signature


def test_generate_output_is_read_in_id_order(tmp_path):
    lines = []
    for i in (2, 0, 1):
        lines += [
            f"S-{i}\tsrc {i}",
            f"T-{i}\t{REFS[i]}",
            f"H-{i}\t-0.5\thyp {i}",
            f"D-{i}\t-0.5\t{HYPS[i]}",
            f"P-{i}\t-0.1 -0.2",
        ]
    lines.append("Generate test with beam=5: BLEU = 12.3")
    path = write(tmp_path / "generate-test.txt", lines)
    hyps, refs = read_system(path)
    assert hyps == HYPS[:3] and refs == REFS[:3]
    code, out = run("score", "--sys", str(path), "--json")
    assert code == 0, out
    assert json.loads(out)["scores"][0]["score"] == pytest.approx(sacrebleu.corpus_bleu(HYPS[:3], [REFS[:3]]).score)


def test_paired_bootstrap(tmp_path):
    metric = build_metrics(ScoreConfig())["bleu"]
    result = paired_bootstrap("bleu", metric, HYPS, BASE, REFS, samples=200, seed=3)
    assert result.system == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score)
    assert result.baseline == pytest.approx(sacrebleu.corpus_bleu(BASE, [REFS]).score)
    assert result.difference > 0 and result.p_value < 0.05
    assert result == paired_bootstrap("bleu", metric, HYPS, BASE, REFS, samples=200, seed=3)
    same = paired_bootstrap("bleu", metric, HYPS, HYPS, REFS, samples=200, seed=3)
    assert same.difference == 0 and same.p_value == 1.0
    # Against sacreBLEU's own paired bootstrap: same resamples for a seed, same p-value and score.
    close = [h.replace("sat", "is sitting") if i % 8 == 0 else h for i, h in enumerate(HYPS)]
    for system, seed in ((BASE, 3), (close, 7), (close, 11)):
        ours = paired_bootstrap("bleu", metric, system, HYPS, REFS, samples=300, seed=seed)
        base_stats = metric._extract_corpus_statistics(HYPS, [REFS])
        baseline_info = {"bleu": (base_stats, metric._aggregate_and_compute(base_stats))}
        _, theirs = sacrebleu_significance._paired_bs_test(
            baseline_info, "sys", system, [REFS], {"bleu": metric}, n_samples=300, seed=seed
        )
        assert ours.system == pytest.approx(theirs["bleu"].score)
        assert ours.p_value == pytest.approx(theirs["bleu"].p_value)
    code, out = run(
        "score",
        "--sys",
        str(write(tmp_path / "h", HYPS)),
        "--ref",
        str(write(tmp_path / "r", REFS)),
        "--paired-bs",
        str(write(tmp_path / "b", BASE)),
        "--bootstrap-samples",
        "50",
    )
    assert code == 0, out
    assert "p = " in out and "significant" in out


def test_sentence_level(tmp_path):
    code, out = run(
        "score",
        "--sys",
        str(write(tmp_path / "h", HYPS)),
        "--ref",
        str(write(tmp_path / "r", REFS)),
        "--sentence-level",
        "--json",
    )
    assert code == 0, out
    per = json.loads(out)["sentences_scores"]
    assert len(per) == len(HYPS)
    assert per[0]["bleu"] == pytest.approx(sacrebleu.sentence_bleu(HYPS[0], [REFS[0]]).score)


@pytest.mark.parametrize(
    "sys_lines,ref_lines,message",
    [(HYPS[:3], REFS[:2], "3 lines but reference has 2"), ([], [], "empty"), (HYPS, None, "not found")],
)
def test_score_bad_input_is_one_line(tmp_path, capsys, sys_lines, ref_lines, message):
    sys_file = write(tmp_path / "h", sys_lines)
    ref_file = write(tmp_path / "r", ref_lines) if ref_lines is not None else tmp_path / "missing"
    code, err = nmt_in_process(["score", "--sys", str(sys_file), "--ref", str(ref_file)], capsys)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_bad_input(tmp_path):
    with pytest.raises(UserError, match="3 lines but reference has 2"):
        corpus_scores(HYPS[:3], REFS[:2], ScoreConfig())
    with pytest.raises(UserError, match="unknown metric"):
        ScoreConfig(metrics=["meteor"]).validate()
    with pytest.raises(UserError, match="--tokenize"):
        ScoreConfig(tokenize="spacy").validate()
    with pytest.raises(UserError, match="give --ref"):
        from toolkit.scoring.report import score_files

        score_files(write(tmp_path / "plain", HYPS), None, ScoreConfig())
    with pytest.raises(UserError, match="not found"):
        read_system(tmp_path / "missing.txt")
