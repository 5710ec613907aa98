"""Hostile text through preprocess, translate and score: never a crash, never a traceback.

Property-based (hypothesis): random unicode including control characters, emoji and mixed
scripts, empty and whitespace-only lines, undecodable bytes, and one 100k-token line.
translate must give exactly one output line per input line; a source longer than the
model's maximum is truncated with a warning (the documented rule for generation).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.cli import nmt_in_process
from tests.helpers.pipeline import WORDS, tiny_checkpoint
from toolkit.search.config import SearchConfig
from toolkit.search.interactive import TranslateConfig, Translator, translate_stream

pytestmark = pytest.mark.slow

HOSTILE = st.one_of(
    st.text(max_size=80),  # any unicode, control characters included
    st.text(alphabet=" \t\x0b\x0c\r\u00a0\u2028\u3000", max_size=10),  # whitespace only, exotic kinds
    st.text(alphabet="😀🐕🇩🇪\u200d\u0301ßЖ中ع", max_size=30),  # emoji, combining marks, mixed scripts
    st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join),
    st.just(""),
)
LINES = st.lists(HOSTILE.map(lambda s: s.replace("\n", " ")), min_size=1, max_size=12)
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _corpus(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="module")
def translator(checkpoint) -> Translator:
    return Translator(TranslateConfig(path=str(checkpoint), search=SearchConfig(beam=2, max_len_b=6)))


@FUZZ
@given(lines=LINES)
def test_translate_gives_one_line_per_input_line(translator, lines):
    outputs = translator.translate_block(lines)
    assert len(outputs) == len(lines)
    assert all("\n" not in line for line in outputs)
    for line, output in zip(lines, outputs, strict=True):
        if not line.strip():
            assert output == "", "an empty or blank line translates to an empty line"


def test_translate_truncates_a_100k_token_line_with_a_warning(checkpoint, capsys):
    lines = ["Hund " * 100_000, "ein Hund läuft .", ""]
    out = io.StringIO()
    count = translate_stream(
        TranslateConfig(path=str(checkpoint), search=SearchConfig(beam=1, max_len_b=5)), iter(lines), out
    )
    assert count == 3 and len(out.getvalue().splitlines()) == 3
    assert "1 lines were longer than the model's" in capsys.readouterr().err


def test_translate_cli_with_undecodable_bytes(checkpoint):
    data = b"ein Hund \xff\xfe l\xc3\xa4uft\n\x00\x01\x02\n\xed\xa0\x80 surrogate\n\n"
    import subprocess
    import sys

    from tests.helpers.cli import REPO

    result = subprocess.run(
        [sys.executable, "-m", "cli", "translate", "--path", str(checkpoint), "--beam", "1", "--max-len-b", "5"],
        input=data,
        capture_output=True,
        cwd=REPO,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert len(result.stdout.decode().split("\n")) - 1 == 4
    assert b"Traceback" not in result.stderr


_run_cli = nmt_in_process


@FUZZ
@given(src=LINES, tgt=LINES)
def test_preprocess_never_crashes(tmp_path_factory, capsys, src, tgt):
    root = tmp_path_factory.mktemp("pp")
    n = min(len(src), len(tgt))
    _corpus(root / "train.de", src[:n] + WORDS)
    _corpus(root / "train.en", tgt[:n] + WORDS)
    code, err = _run_cli(
        ["preprocess", "-s", "de", "-t", "en", "--trainpref", str(root / "train"), "--destdir", str(root / "bin"),
         "--bpe-merges", "20", "--workers", "1", "--quiet"], capsys,
    )  # fmt: skip
    assert "Traceback" not in err
    if code == 0:
        assert (root / "bin" / "preprocess.json").exists()
    else:
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert not (root / "bin").exists(), "a failed preprocess left its destination behind"


@FUZZ
@given(sys_lines=LINES, ref_lines=LINES)
def test_score_never_crashes(tmp_path_factory, capsys, sys_lines, ref_lines):
    root = tmp_path_factory.mktemp("score")
    _corpus(root / "sys.txt", sys_lines)
    _corpus(root / "ref.txt", ref_lines)
    code, err = _run_cli(
        ["score", "--sys", str(root / "sys.txt"), "--ref", str(root / "ref.txt"), "--metrics", "bleu,chrf,ter"],
        capsys,
    )
    assert "Traceback" not in err
    if len(sys_lines) == len(ref_lines):
        assert code == 0, err
    else:
        assert code == 2 and "lines" in err and len(err.strip().splitlines()) == 1, err


def test_preprocess_with_undecodable_bytes_names_file_and_line(tmp_path, capsys):
    (tmp_path / "train.de").write_bytes(b"ein Hund\nl\xe4uft\n")
    (tmp_path / "train.en").write_bytes(b"a dog\nruns\n")
    code, err = _run_cli(
        ["preprocess", "-s", "de", "-t", "en", "--trainpref", str(tmp_path / "train"), "--destdir",
         str(tmp_path / "bin"), "--workers", "1", "--quiet"], capsys,
    )  # fmt: skip
    assert code == 2 and "train.de" in err and "line 2" in err, err
