"""Validation BLEU during training (fairseq's --eval-bleu), the same figure `nmt generate` prints.

Each validation batch is translated with the search of --eval-bleu-args and turned into
sacreBLEU's sufficient statistics (match counts and totals per n-gram order, system and reference
lengths): a flat dict of ints that per-batch logs and a distributed all-reduce simply add up.
`bleu_score` turns the sums into the corpus BLEU. Text goes through generate's own Postprocessor,
so for the same checkpoint, split and search the score equals generate's:

    sacreBLEU (default)     nmt generate --remove-bpe R [--tokenizer T]   (D-/T- lines, 13a)
    --eval-tokenized-bleu   nmt generate --remove-bpe R --scoring bleu    (H- lines, tokenize none)

with R = --eval-bleu-remove-bpe and T = --eval-bleu-detok. As in generate, the detokenized text
always has its BPE undone (the target text processor does it), so R matters only for the tokenized
figure (and for a marker other than '@@ ' when there is no text processor). Sentences are batched
as validation batches them, not sorted as generate sorts them; the search does not depend on that
beyond floating-point rounding.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from toolkit.config import option
from toolkit.data.collate import Batch
from toolkit.data.text_processor import TextProcessor, TextProcessorConfig
from toolkit.errors import UserError, note
from toolkit.scoring.bleu import bleu_from_statistics, bleu_statistics
from toolkit.search.config import SearchConfig, bpe_marker
from toolkit.search.generator import SequenceGenerator
from toolkit.search.output import Postprocessor

DETOKENIZERS = ("moses", "none", "space")  # space: fairseq's name for no detokenization
# fairseq's MosesTokenizerConfig keys; only target_lang and moses_no_escape change detokenization.
_DETOK_KEYS = ("target_lang", "source_lang", "moses_no_escape", "moses_no_dash_splits")


@dataclass
class EvalBleuConfig:
    """fairseq's --eval-bleu options of the translation task."""

    eval_bleu: bool = option(False, "at each validation, translate the validation split and report its BLEU")
    eval_bleu_args: str = option(
        "{}",
        'search options as a JSON object of nmt generate\'s names, e.g. \'{"beam": 5, "max_len_a": 1.2, '
        '"max_len_b": 10}\' (others: lenpen, min_len, unkpen, no_repeat_ngram_size, sampling, ...)',
        metavar="JSON",
    )
    eval_bleu_detok: str | None = option(
        None,
        "detokenizer of hypotheses and references: moses, or none/space (keep the tokens); "
        "default: the target text processor recorded by nmt preprocess, as nmt generate",
        choices=DETOKENIZERS,
    )
    eval_bleu_detok_args: str = option(
        "{}", 'detokenizer options as JSON, e.g. \'{"target_lang": "de"}\' (moses language)', metavar="JSON"
    )
    eval_bleu_remove_bpe: str | None = option(
        None,
        "BPE marker removed from the tokenized text (--eval-tokenized-bleu); bare means '@@ ' "
        "(detokenized text always has its BPE undone)",
        const="@@ ",
    )
    eval_tokenized_bleu: bool = option(
        False, "fairseq's tokenized BLEU-4 (as nmt generate --scoring bleu) instead of sacreBLEU on detokenized text"
    )
    eval_bleu_print_samples: bool = option(False, "log one hypothesis and its reference per validation batch")

    def validate(self) -> EvalBleuConfig:
        if self.eval_bleu_detok is not None and self.eval_bleu_detok not in DETOKENIZERS:
            raise UserError(f"--eval-bleu-detok {self.eval_bleu_detok!r}: choose one of {', '.join(DETOKENIZERS)}")
        self.eval_bleu_remove_bpe = bpe_marker(self.eval_bleu_remove_bpe)
        self.search_config()
        self.detok_options()
        return self

    def search_config(self) -> SearchConfig:
        """--eval-bleu-args as a validated SearchConfig (its defaults for the keys not given)."""
        return parse_search_args(self.eval_bleu_args)

    def detok_options(self) -> dict[str, Any]:
        """--eval-bleu-detok-args checked: a JSON object of fairseq's Moses detokenizer keys."""
        options = _json_object(self.eval_bleu_detok_args, "--eval-bleu-detok-args")
        for key, value in options.items():
            if key not in _DETOK_KEYS:
                raise UserError(f"--eval-bleu-detok-args: unknown key {key!r}; known: {', '.join(_DETOK_KEYS)}")
            wanted = str if key.endswith("_lang") else bool
            if not isinstance(value, wanted):
                raise UserError(f"--eval-bleu-detok-args: {key!r} must be a {wanted.__name__} (got {value!r})")
        return options


def _json_object(text: str, flag: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as error:
        raise UserError(f"{flag}: not valid JSON ({error.msg} at character {error.pos}): {text!r}") from None
    if not isinstance(value, dict):
        raise UserError(f"{flag}: expected a JSON object such as '{{\"beam\": 5}}', got {text!r}")
    return value


def parse_search_args(text: str) -> SearchConfig:
    """A JSON object of SearchConfig field names ('-' or '_') and values -> a validated SearchConfig."""
    values = _json_object(text, "--eval-bleu-args")
    hints = typing.get_type_hints(SearchConfig)
    names = [f.name for f in dataclasses.fields(SearchConfig)]
    config = SearchConfig()
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in names:
            raise UserError(f"--eval-bleu-args: unknown key {key!r}; known: {', '.join(names)}")
        kind = hints[name]
        ok = isinstance(value, bool) if kind is bool else isinstance(value, kind) and not isinstance(value, bool)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise UserError(f"--eval-bleu-args: {key!r} must be {'an' if kind is int else 'a'} {kind.__name__}")
        setattr(config, name, value)
    try:
        return config.validate()
    except UserError as error:
        raise UserError(f"--eval-bleu-args: {error}") from None


def target_processor(config: EvalBleuConfig, processor: Any | None) -> Any | None:
    """The target processor to detokenize with: the given one, changed as --eval-bleu-detok(-args) ask."""
    options = config.detok_options()
    if config.eval_bleu_detok is None and not options:
        return processor
    base = processor.config if processor is not None else TextProcessorConfig("en", tokenize="none")
    changes: dict[str, Any] = {}
    if config.eval_bleu_detok is not None:
        changes["tokenize"] = "moses" if config.eval_bleu_detok == "moses" else "none"
    if "target_lang" in options:
        changes["language"] = options["target_lang"]
    if "moses_no_escape" in options:
        changes["escape"] = not options["moses_no_escape"]
    if processor is not None and all(getattr(base, k) == v for k, v in changes.items()):
        return processor
    if processor is not None and changes.get("tokenize", base.tokenize) != base.tokenize:
        note(
            f"--eval-bleu-detok {config.eval_bleu_detok}: the target side was tokenized with {base.tokenize}; "
            f"validation BLEU detokenizes with {config.eval_bleu_detok}"
        )
    return TextProcessor(dataclasses.replace(base, **changes))


def bleu_score(stats: Mapping[str, float]) -> float:
    """Corpus BLEU from statistics summed over batches (and processes); 0.0 for no sentences."""
    return float(bleu_from_statistics(stats).score)


class BleuValidator:
    """Translates validation batches and counts BLEU statistics; built once per run.

    tgt_processor: the checkpoint's or the data's target TextProcessor (None: none recorded).
    bf16: search under bfloat16 autocast (nmt generate --bf16). seed: the sampling generator's
    seed, private to validation so the training's random stream is left alone.
    """

    def __init__(
        self,
        config: EvalBleuConfig,
        tgt_dict: Any,
        tgt_processor: Any | None = None,
        bf16: bool = False,
        seed: int = 1,
    ) -> None:
        config.validate()
        self.config = config
        self.search = config.search_config()
        self.tokenize = "none" if config.eval_tokenized_bleu else "13a"
        self.post = Postprocessor(
            tgt_dict, tgt_dict, config.eval_bleu_remove_bpe, target_processor(config, tgt_processor)
        )
        self.pad = tgt_dict.pad_index
        self.bf16, self.seed = bf16, seed
        self._rng: torch.Generator | None = None

    def text(self, ids: torch.Tensor) -> str:
        """Token ids (no padding) as the text BLEU is computed on: detokenized, or tokenized with BPE removed."""
        return self.post.target(ids) if self.config.eval_tokenized_bleu else self.post.detokenize(ids)

    _text = text

    def _generator(self, models: Sequence[Any], device: torch.device) -> SequenceGenerator:
        if self.search.sampling and (self._rng is None or self._rng.device != device):
            self._rng = torch.Generator(device=device).manual_seed(self.seed)
        unk = self.post.tgt_dict.unk_index
        return SequenceGenerator(list(models), self.search, unk, bf16=self.bf16, need_attn=False, rng=self._rng)

    def translate(
        self, models: Any | Sequence[Any], batch: Batch, **search_arguments: Any
    ) -> tuple[list[str], list[str]]:
        """(hypotheses, references) of a batch with targets, as text, in batch order.

        search_arguments go to SequenceGenerator.generate as they are (none: its two-argument call).
        """
        if batch.target is None:
            raise ValueError("validation BLEU needs a batch with targets")
        models = list(models) if isinstance(models, (list, tuple)) else [models]
        modes = [m.training for m in models]
        for m in models:
            m.eval()
        try:
            with torch.no_grad():
                generator = self._generator(models, batch.src_tokens.device)
                results = generator.generate(batch.src_tokens, batch.src_lengths, **search_arguments)
        finally:
            for m, mode in zip(models, modes, strict=True):
                m.train(mode)
        hyps, refs = [], []
        for row, hypos in enumerate(results):
            ref = batch.target[row][batch.target[row].ne(self.pad)].cpu()
            hyps.append(self._text(hypos[0].tokens.cpu()) if hypos else "")
            refs.append(self._text(ref))
        return hyps, refs

    def batch_statistics(
        self, models: Any | Sequence[Any], batch: Batch, **search_arguments: Any
    ) -> tuple[dict[str, int], tuple[str, str] | None]:
        """Summable BLEU statistics of one batch (on the models' device), and with
        --eval-bleu-print-samples its first (hypothesis, reference)."""
        hyps, refs = self.translate(models, batch, **search_arguments)
        sample = (hyps[0], refs[0]) if self.config.eval_bleu_print_samples and hyps else None
        return bleu_statistics(hyps, refs, self.tokenize), sample

    @staticmethod
    def score(stats: Mapping[str, float]) -> float:
        return bleu_score(stats)
