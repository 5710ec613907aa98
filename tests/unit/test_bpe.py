import io
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from subword_nmt import learn_bpe as reference
from subword_nmt.apply_bpe import BPE

from toolkit.data.bpe import Segmenter, count_words, learn_codes, validate_codes
from toolkit.errors import UserError


def _reference_codes(text: str, merges: int, min_frequency: int = 2) -> str:
    out = io.StringIO()
    silent = reference.tqdm
    reference.tqdm = lambda iterable, *a, **k: iterable
    try:
        infile = io.StringIO(text)
        infile.name = "corpus"
        reference.learn_bpe(infile, out, merges, min_frequency)
    finally:
        reference.tqdm = silent
    return out.getvalue()


def _text(seed: int, lines: int = 300) -> str:
    rng = random.Random(seed)
    alphabet = "aabcdeeefghiklmnoorsstuü"
    words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 9))) for _ in range(150)]
    return "".join(" ".join(rng.choice(words) for _ in range(rng.randint(1, 10))) + "\n" for _ in range(lines))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_learned_codes_equal_subword_nmt(seed):
    text = _text(seed)
    counts = count_words(text.splitlines())
    for merges in (1, 50, 400):
        assert learn_codes(counts, merges) == _reference_codes(text, merges)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.text(alphabet="abcab", min_size=1, max_size=6), min_size=1, max_size=40), st.integers(1, 30))
def test_learned_codes_equal_subword_nmt_property(words, merges):
    text = " ".join(words) + "\n"
    if len(Counter(w for w in words if len(w) > 1)) == 0:
        return  # subword-nmt itself fails without any pair to count
    assert learn_codes(count_words([text]), merges) == _reference_codes(text, merges)


def test_segmenter_matches_subword_nmt():
    text = _text(3)
    codes = learn_codes(count_words(text.splitlines()), 200)
    reference_bpe = BPE(io.StringIO(codes))
    segmenter = Segmenter(codes)
    for line in text.splitlines()[:50]:
        assert segmenter.segment_line(line) == reference_bpe.segment(line)


def test_bpe_dropout_sampling():
    text = _text(4)
    lines = text.splitlines()[:80]
    segmenter = Segmenter(codes := learn_codes(count_words(text.splitlines()), 200))
    deterministic = [segmenter.segment_line(line) for line in lines]
    assert segmenter.sample_lines(lines, 0.0, seed=5) == deterministic
    # Dropping every merge leaves single characters.
    assert segmenter.sample_lines(lines, 0.999999, seed=5) == [
        " ".join("@@ ".join(w) for w in ln.split()) for ln in lines
    ]
    state = random.getstate()
    sampled = segmenter.sample_lines(lines, 0.3, seed=5)
    assert random.getstate() == state  # the caller's generator is left alone
    assert sampled == Segmenter(codes).sample_lines(lines, 0.3, seed=5)  # a function of the seed alone
    assert sampled != segmenter.sample_lines(lines, 0.3, seed=6)
    assert [s.replace("@@ ", "") for s in sampled] == lines  # the same words, split differently
    changed = sum(s != d for s, d in zip(sampled, deterministic, strict=True))
    pieces = sum(len(s.split()) for s in sampled) / sum(len(d.split()) for d in deterministic)
    assert changed > 20 and pieces > 1.05


def test_invalid_codes():
    with pytest.raises(UserError, match="line 2"):
        validate_codes("#version: 0.2\na b c\n")
    with pytest.raises(UserError):
        Segmenter("#version: 0.2\nsingle\n")


def test_codes_without_a_single_merge_segment_nothing():
    # Found by benchmarks/fuzz_cli.py: a corpus too small to learn a merge gives a header-only codes
    # file, on which subword-nmt itself calls sys.exit(1).
    from toolkit.data.bpe import CODES_HEADER, Segmenter

    segmenter = Segmenter(CODES_HEADER)
    assert segmenter.segment_line("ein  Hund läuft") == "ein Hund läuft"
    assert segmenter.segment_word("Hund") == ("Hund",)
    assert segmenter.sample_lines(["a  b"], dropout=0.5, seed=1) == ["a b"]


def test_preprocess_of_a_corpus_with_no_merge_to_learn(tmp_path):
    from toolkit.data.indexed import MMapIndexedDataset
    from toolkit.data.preprocess import PreprocessConfig, preprocess

    (tmp_path / "train.de").write_bytes(b"\xe2\x80\xad\xef\xbb\xbf\xc2\x85 \x0c\n")  # the fuzzer's case
    (tmp_path / "train.en").write_text("a dog runs\n", encoding="utf-8")
    config = PreprocessConfig(source_lang="de", target_lang="en", trainpref=str(tmp_path / "train"),
                              destdir=str(tmp_path / "bin"), bpe_merges=20, workers=1, quiet=True)  # fmt: skip
    preprocess(config)
    assert len(MMapIndexedDataset(tmp_path / "bin" / "train.de-en.de")) == 1
    assert (tmp_path / "bin" / "bpecodes").read_text(encoding="utf-8") == "#version: 0.2\n"
