"""Validation BLEU: summed per-batch statistics are corpus BLEU, and equal `nmt generate`'s figure."""

from __future__ import annotations

import io
import json
import shlex

import numpy as np
import pytest
import sacrebleu
import torch

from toolkit.config import OptionParser, add_dataclass_arguments, dataclass_from_namespace
from toolkit.data.dictionary import Dictionary
from toolkit.data.indexed import IndexedDatasetBuilder, best_dtype
from toolkit.data.text_processor import TextProcessor, TextProcessorConfig
from toolkit.errors import UserError
from toolkit.models import build_model, model_config_to_dict
from toolkit.models.transformer import TransformerConfig
from toolkit.scoring.bleu import BLEU_STAT_KEYS, bleu_statistics, corpus_bleu
from toolkit.search.config import SearchConfig
from toolkit.search.subset import GenerateConfig, generate_subset
from toolkit.tasks.translation import TranslationConfig, TranslationTask
from toolkit.train.checkpoint import save_checkpoint
from toolkit.train.validation_bleu import (
    BleuValidator,
    EvalBleuConfig,
    bleu_score,
    parse_search_args,
    target_processor,
)

HYPS = ["The dog runs fast.", "", "A cat sleeps on the mat.", "Two men, playing.", "It's late!", "", "Go home now."]
REFS = ["The dog runs fast.", "A cat.", "The cat sleeps on a mat.", "Two men are playing.", "It is late!", "x", "Go."]


def _summed(hyps, refs, sizes, tokenize="13a") -> dict[str, float]:
    total = dict.fromkeys(BLEU_STAT_KEYS, 0.0)
    start = 0
    for size in sizes:
        for key, value in bleu_statistics(hyps[start : start + size], refs[start : start + size], tokenize).items():
            total[key] += float(value)  # floats, as an all-reduce carries them
        start += size
    assert start == len(hyps)
    return total


@pytest.mark.parametrize("sizes", [[7], [1] * 7, [3, 0, 4], [2, 2, 2, 1]])
def test_summed_batch_statistics_are_corpus_bleu(sizes):
    assert bleu_score(_summed(HYPS, REFS, sizes)) == sacrebleu.corpus_bleu(HYPS, [REFS]).score
    assert bleu_score(_summed(HYPS, REFS, sizes)) == corpus_bleu(HYPS, REFS).score
    tokenized = sacrebleu.corpus_bleu(HYPS, [REFS], tokenize="none").score
    assert bleu_score(_summed(HYPS, REFS, sizes, "none")) == tokenized


def test_no_sentences_score_zero():
    assert bleu_score(bleu_statistics([], [])) == 0.0 and bleu_score({}) == 0.0


def test_fairseq_command_line_parses():
    parser = OptionParser("nmt train")
    add_dataclass_arguments(parser, EvalBleuConfig)
    argv = shlex.split(
        """--eval-bleu --eval-bleu-args '{"beam": 5, "max_len_a": 1.2, "max_len_b": 10}' --eval-bleu-detok moses """
        """--eval-bleu-detok-args '{"target_lang": "de"}' --eval-bleu-remove-bpe --eval-bleu-print-samples"""
    )
    config = dataclass_from_namespace(EvalBleuConfig, parser.parse_args(argv)).validate()
    assert config.eval_bleu and config.eval_bleu_print_samples and config.eval_bleu_detok == "moses"
    assert config.eval_bleu_remove_bpe == "@@ " and not config.eval_tokenized_bleu
    assert config.search_config() == SearchConfig(beam=5, max_len_a=1.2, max_len_b=10)
    assert config.detok_options() == {"target_lang": "de"}
    assert dataclass_from_namespace(EvalBleuConfig, parser.parse_args([])).validate().eval_bleu_remove_bpe is None


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"beam": 5, "beem": 4}', "unknown key 'beem'"),
        ('{"beam": 5,', "not valid JSON"),
        ("[5]", "expected a JSON object"),
        ('{"beam": "5"}', "'beam' must be an int"),
        ('{"sampling": 1}', "'sampling' must be a bool"),
        ('{"beam": 0}', "--eval-bleu-args: --beam must be at least 1"),
    ],
)
def test_bad_search_args_are_one_line_errors(text, message):
    with pytest.raises(UserError, match=message) as caught:
        parse_search_args(text)
    assert "\n" not in str(caught.value)
    assert parse_search_args('{"lenpen": 1, "min-len": 2}') == SearchConfig(lenpen=1.0, min_len=2)


def test_bad_detok_args_are_one_line_errors():
    with pytest.raises(UserError, match="unknown key 'lang'"):
        EvalBleuConfig(eval_bleu_detok_args='{"lang": "de"}').validate()
    with pytest.raises(UserError, match="--eval-bleu-detok-args: not valid JSON"):
        EvalBleuConfig(eval_bleu_detok_args="de").validate()


# --- the same figure as nmt generate ------------------------------------------------------------


WORDS = ["the", "dog", "cat", "'s", "ball", ",", ".", "!", "run@@", "s", "sleep@@", "ing", '"', "(", ")"]


def _write_split(data, split: str, dictionary: Dictionary, rng: np.random.RandomState, n: int) -> list[str]:
    lines = [" ".join(WORDS[i] for i in rng.randint(0, len(WORDS), size=rng.randint(1, 8))) for _ in range(n)]
    for lang in ("de", "en"):
        builder = IndexedDatasetBuilder(data / f"{split}.de-en.{lang}", best_dtype(len(dictionary)))
        for line in lines:
            builder.add(dictionary.encode_line(line))
        builder.finalize()
    return lines


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and are not slowed by a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _learn_to_copy(model, batch, steps: int = 40, lr: float = 1.0) -> None:
    """Plain gradient steps (no torch.optim: importing it costs seconds) on a copy task."""
    for _ in range(steps):
        features, _ = model(batch.src_tokens, batch.src_lengths, batch.prev_output_tokens)
        logits = model.output_layer(features)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch.target.flatten(), ignore_index=1)
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for param in model.parameters():
                param -= lr * param.grad


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A binarized corpus of BPE'd Moses tokens, and an untrained seeded Transformer checkpoint that
    records a Moses target text processor (as nmt preprocess would)."""
    root = tmp_path_factory.mktemp("vbleu")
    data = root / "bin"
    data.mkdir()
    dictionary = Dictionary()
    for word in WORDS:
        dictionary.add_symbol(word, 5)
    for lang in ("de", "en"):
        dictionary.save(data / f"dict.{lang}.txt")
    rng = np.random.RandomState(0)
    refs = _write_split(data, "valid", dictionary, rng, 11)
    (data / "preprocess.json").write_text(json.dumps({"config": {"source_lang": "de", "target_lang": "en"}}))
    task = TranslationTask(TranslationConfig(data=str(data)))
    torch.manual_seed(0)
    arch = TransformerConfig(
        encoder_embed_dim=16, encoder_ffn_embed_dim=32, encoder_layers=1, encoder_attention_heads=2,
        decoder_embed_dim=16, decoder_ffn_embed_dim=32, decoder_layers=1, decoder_attention_heads=2,
    )  # fmt: skip
    model_config = model_config_to_dict("transformer", arch)
    model = build_model(model_config, len(dictionary), len(dictionary), dictionary.pad_index, dictionary.eos_index)
    _learn_to_copy(model, task.load_split("valid").batch(np.arange(len(refs))))  # a BLEU well above 0
    processors = {side: TextProcessor(TextProcessorConfig(lang)) for side, lang in (("src", "de"), ("tgt", "en"))}
    state = {  # format 1's layout, which later formats still load
        "format_version": 1,
        "config": {
            "model": model_config,
            "task": {"name": "translation", "params": {"source_lang": "de", "target_lang": "en"}},
        },
        "dictionaries": {"src": dictionary.to_state(), "tgt": dictionary.to_state()},
        "text_processors": {side: p.to_state() for side, p in processors.items()},
        "model": model.state_dict(),
    }
    save_checkpoint(state, root / "model.pt")
    return root, task, model, processors["tgt"], refs


def _generate(root, search: SearchConfig, scoring: str) -> tuple[dict, str]:
    config = GenerateConfig(
        data=str(root / "bin"), path=str(root / "model.pt"), search=search, gen_subset="valid",
        scoring=scoring, cpu=True, no_progress_bar=True,
    )  # fmt: skip
    config.validate()
    out = io.StringIO()
    return generate_subset(config, out), out.getvalue()


@pytest.mark.parametrize("tokenized", [False, True])
def test_validation_bleu_equals_generate(setup, tokenized):
    root, task, model, processor, _ = setup
    args = '{"beam": 2, "max_len_a": 1.2, "max_len_b": 3}'
    config = EvalBleuConfig(True, args, eval_bleu_remove_bpe="@@ ", eval_tokenized_bleu=tokenized)
    validator = BleuValidator(config, task.tgt_dict, processor)
    summary, text = _generate(root, config.search_config(), "bleu" if tokenized else "sacrebleu")

    dataset = task.load_split("valid")
    model.train()  # the validator switches to eval mode and back
    total = dict.fromkeys(BLEU_STAT_KEYS, 0)
    hyps: dict[int, str] = {}
    for chunk in np.array_split(np.arange(len(dataset)), 3):  # batched unlike generate, which sorts by length
        batch = dataset.batch(chunk)
        stats, sample = validator.batch_statistics(model, batch)
        assert sample is None and model.training
        total = {key: total[key] + stats[key] for key in BLEU_STAT_KEYS}
        hyps.update(zip(batch.ids.tolist(), validator.translate(model, batch)[0], strict=True))
    assert validator.score(total) == summary["bleu"]

    kind = "H" if tokenized else "D"
    printed = dict(line.split("\t", 1) for line in text.splitlines() if line.startswith(f"{kind}-"))
    assert {int(k[2:]): v.split("\t", 1)[1] for k, v in printed.items()} == hyps


def test_print_samples_gives_the_first_pair(setup):
    root, task, model, processor, refs = setup
    config = EvalBleuConfig(True, '{"beam": 1, "max_len_b": 2}', eval_bleu_print_samples=True)
    validator = BleuValidator(config, task.tgt_dict, processor)
    batch = task.load_split("valid").batch(np.arange(2))
    _, sample = validator.batch_statistics([model], batch)
    assert sample == tuple(pair[0] for pair in validator.translate(model, batch))
    assert sample[1] == processor.decode(refs[0])


def test_detok_overrides_the_text_processor(capsys):
    moses = TextProcessor(TextProcessorConfig("en"))
    assert target_processor(EvalBleuConfig(), moses) is moses
    assert target_processor(EvalBleuConfig(eval_bleu_detok="moses"), moses) is moses
    spaced = target_processor(EvalBleuConfig(eval_bleu_detok="space"), moses)
    assert spaced.config.tokenize == "none" and spaced.decode("it 's run@@ s .") == "it 's runs ."
    assert "--eval-bleu-detok space" in capsys.readouterr().err
    german = EvalBleuConfig(eval_bleu_detok="moses", eval_bleu_detok_args='{"target_lang": "de"}')
    assert target_processor(german, None).config == TextProcessorConfig("de", tokenize="moses")
