"""unsupervised_translation: translation learned from two monolingual corpora (Lample et al. 2018a; XLM).

One model translates both ways over one joined dictionary. Each training step reads a batch
of language-A sentences and one of language-B sentences and trains four streams:

    ae_A   C(x_A) -> x_A      denoising autoencoding (toolkit/data/noise.py)
    ae_B   C(x_B) -> x_B
    bt_A   x_A -> y_B -> x_A  online back-translation: the current model, in eval mode and
    bt_B   x_B -> y_A -> x_B  without gradient, translates x into the other language (greedy,
                              or sampled with --bt-sampling); the model then learns y -> x

each loss a mean per target token, weighted by --lambda-ae (the two ae streams) and --lambda-bt
(the two bt streams), schedules in XLM's syntax (toolkit/train/weight_schedule.py). A stream
whose weight is 0 at an update is not computed.

The decoder is told which language to produce by --language-signal: `tag` starts every target
with <2LANG> (any architecture), `embeddings` adds the model's language embedding
(--language-embeddings, Transformer), `both` does both; the encoder gets its language embedding
whenever the model has them. The checkpoint records the languages' ids and tags, so `nmt
generate`/`translate --source-lang B --target-lang A` translate either way with one checkpoint.

Validation uses a small parallel split only to choose the checkpoint: per direction the teacher-
forced loss, greedy BLEU (bleu_A_B; `bleu` is the mean of both) and two collapse signals on those
translations: copy_A_B, the share of sentences translated into exactly their source, and
wrong_lang_A_B, the share of output tokens seen only in the source language's training text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from toolkit.config import option
from toolkit.data.batching import plan_batches
from toolkit.data.collate import Batch
from toolkit.data.indexed import MMapIndexedDataset
from toolkit.data.noise import Noise, NoiseConfig, continuation_mask
from toolkit.data.pair_dataset import PairDataset
from toolkit.data.splits import monolingual_prefix, parallel_prefixes
from toolkit.errors import UserError
from toolkit.registry import TASKS
from toolkit.search.online import OnlineSearch, translate_batch
from toolkit.tasks.base import Batching, CheckpointData, EpochPlan
from toolkit.tasks.common import checked_data_dir, data_text_processor, joined_dictionary, symbol_index, task_languages
from toolkit.train.weight_schedule import WeightSchedule

MASK = "<mask>"
SIGNALS = ("tag", "embeddings", "both")


def language_tag(lang: str) -> str:
    return f"<2{lang}>"


@dataclass
class UnsupervisedConfig:
    data: str = ""
    langs: str = option("", "the two languages, in id order, e.g. en,fr (default: the pair preprocess recorded)")
    source_lang: str = option("", "direction generate and translate use (default: the first of --langs)", short="-s")
    target_lang: str = option("", "(default: the second of --langs)", short="-t")
    train_subset: str = option("train", "split whose monolingual text (SPLIT.LANG-None.LANG) is trained on")
    valid_subset: str = option("valid", "small parallel split, used only to choose the checkpoint")
    lambda_ae: str = option("1", "weight of the denoising streams: a number or a schedule '0:1,100000:0.1,300000:0'")
    lambda_bt: str = option("1", "weight of the back-translation streams (same syntax)")
    word_shuffle: float = option(3.0, "noise: no unit moves more than K places (0: no shuffle)")
    word_dropout: float = option(0.1, "noise: probability of dropping a unit")
    word_blank: float = option(0.1, f"noise: probability of replacing a unit by {MASK}")
    noise_units: str = option("words", "noise acts on whole words (BPE pieces kept together) or tokens",
                              choices=("words", "tokens"))  # fmt: skip
    language_signal: str = option(
        "tag", "how the decoder is told the output language: tag (<2LANG> first), embeddings, or both",
        choices=SIGNALS,
    )  # fmt: skip
    bt_sampling: bool = option(False, "back-translate by sampling instead of greedily")
    bt_temperature: float = option(1.0, "sampling temperature of --bt-sampling")
    bt_max_len_a: float = option(1.3, "back-translations are at most A * source length + B tokens")
    bt_max_len_b: int = option(5, "see --bt-max-len-a")

    def validate(self) -> None:
        WeightSchedule.parse(self.lambda_ae, "--lambda-ae")
        WeightSchedule.parse(self.lambda_bt, "--lambda-bt")
        self.noise().validate()
        if self.language_signal not in SIGNALS:
            raise ValueError(f"--language-signal {self.language_signal!r}: choose one of {', '.join(SIGNALS)}")
        if self.noise_units not in ("words", "tokens"):
            raise ValueError(f"--noise-units {self.noise_units!r}: choose words or tokens")
        if not self.bt_temperature > 0:
            raise ValueError(f"--bt-temperature must be > 0, got {self.bt_temperature}")
        if self.bt_max_len_a < 0 or self.bt_max_len_b < 1:
            raise ValueError("--bt-max-len-a must be >= 0 and --bt-max-len-b >= 1")

    def noise(self) -> NoiseConfig:
        return NoiseConfig(self.word_shuffle, self.word_dropout, self.word_blank, self.noise_units == "words")


@dataclass
class LanguageBatches:
    """One batch per language (training: monolingual; validation: the two directions of one parallel batch)."""

    first: Batch
    second: Batch

    def to(self, device) -> LanguageBatches:
        return LanguageBatches(self.first.to(device), self.second.to(device))


@TASKS.register("unsupervised_translation", config=UnsupervisedConfig)
class UnsupervisedTranslationTask:
    """Unsupervised MT: denoising and online back-translation over two monolingual corpora."""

    def __init__(self, config: UnsupervisedConfig) -> None:
        self.config = config
        self.data_dir = checked_data_dir(config)
        self.langs = task_languages(self.data_dir, config.langs)
        if len(self.langs) != 2:
            raise UserError(f"--langs {config.langs!r}: unsupervised_translation takes exactly two languages")
        self.src_lang = config.source_lang or self.langs[0]
        self.tgt_lang = config.target_lang or next(lang for lang in self.langs if lang != self.src_lang)
        for lang in (self.src_lang, self.tgt_lang):
            if lang not in self.langs:
                raise UserError(f"language {lang!r} is not one of --langs {','.join(self.langs)}")
        self.dict = joined_dictionary(self.data_dir, self.langs)
        self.lambda_ae = WeightSchedule.parse(config.lambda_ae, "--lambda-ae")
        self.lambda_bt = WeightSchedule.parse(config.lambda_bt, "--lambda-bt")
        self.use_tags = config.language_signal in ("tag", "both")
        self.use_embeddings = config.language_signal in ("embeddings", "both")
        self.tags = {lang: self._index(language_tag(lang), "by --language-signal tag") for lang in self.langs}
        self.tags = self.tags if self.use_tags else {}
        self.lang_ids = {lang: i for i, lang in enumerate(self.langs)}
        self.mask_index = self._index(MASK, "for word blanking") if config.word_blank > 0 else self.dict.unk_index
        self.seed = 1
        self._noise: Noise | None = None
        self._train: dict[str, PairDataset] | None = None
        self._valid: PairDataset | None = None
        self._only_in: dict[str, torch.Tensor] | None = None
        self._bleu = None

    def _index(self, symbol: str, why: str) -> int:
        return symbol_index(self.dict, symbol, self.data_dir, why)

    # --- data ------------------------------------------------------------------------
    def _training_data(self) -> dict[str, PairDataset]:
        if self._train is None:
            self._train = {}
            for lang in self.langs:
                prefix = monolingual_prefix(self.data_dir, self.config.train_subset, lang)
                if prefix is None:
                    split = self.config.train_subset
                    raise UserError(f"{self.data_dir}: no {lang} text in split {split!r} ({split}.{lang}-None.{lang})")
                data = MMapIndexedDataset(prefix)
                self._train[lang] = PairDataset(data, None, self.dict.pad_index, self.dict.eos_index)
        return self._train

    def _valid_data(self) -> PairDataset:
        if self._valid is None:
            first, second = self.langs
            pair = parallel_prefixes(self.data_dir, self.config.valid_subset, first, second)
            if pair is None:
                split = self.config.valid_subset
                raise UserError(f"{self.data_dir}: missing parallel validation split {split!r} ({split}.{first}-"
                                f"{second}.*), needed to choose the checkpoint")  # fmt: skip
            self._valid = PairDataset(
                MMapIndexedDataset(pair[0]), MMapIndexedDataset(pair[1]), self.dict.pad_index, self.dict.eos_index
            )
        return self._valid

    def load_split(self, split: str, source_only: bool = False) -> PairDataset:
        """A split in the direction --source-lang -> --target-lang (parallel, or the source's monolingual text)."""
        mono = monolingual_prefix(self.data_dir, split, self.src_lang)
        pair = parallel_prefixes(self.data_dir, split, self.src_lang, self.tgt_lang)
        if pair is not None and not (source_only and mono is not None):
            tgt = None if source_only else MMapIndexedDataset(pair[1])
            return PairDataset(MMapIndexedDataset(pair[0]), tgt, self.dict.pad_index, self.dict.eos_index)
        if mono is not None:
            return PairDataset(MMapIndexedDataset(mono), None, self.dict.pad_index, self.dict.eos_index)
        raise UserError(f"{self.data_dir}: missing split {split!r} for {self.src_lang} -> {self.tgt_lang}")

    def noise(self) -> Noise:
        if self._noise is None:
            self._noise = Noise(
                self.config.noise(), self.dict.pad_index, self.dict.eos_index, self.mask_index,
                continuation_mask(self.dict.symbols), self.seed,
            )  # fmt: skip
        return self._noise

    def banned_symbols(self) -> torch.Tensor:
        """(V,) symbols a translation never contains: <s>, <pad>, <mask> and the language tags."""
        banned = torch.zeros(len(self.dict), dtype=torch.bool)
        banned[[self.dict.bos_index, self.dict.pad_index]] = True
        for symbol in (MASK, *(language_tag(lang) for lang in self.langs)):
            if symbol in self.dict:
                banned[self.dict.index(symbol)] = True
        return banned

    # --- batches ---------------------------------------------------------------------
    def _lang_tensor(self, lang: str, size: int, device) -> torch.Tensor | None:
        if not self.use_embeddings:
            return None
        return torch.full((size,), self.lang_ids[lang], dtype=torch.long, device=device)

    def start_symbol(self, lang: str) -> int:
        return self.tags[lang] if self.use_tags else self.dict.eos_index

    def teacher_batch(
        self, ids: torch.Tensor, src: torch.Tensor, src_lengths: torch.Tensor, src_lang: str, target: torch.Tensor,
        tgt_lang: str,
    ) -> Batch:  # fmt: skip
        """Source (B, S) in src_lang -> target (B, T) in tgt_lang, both right-padded and ending with EOS."""
        pad = self.dict.pad_index
        prev = torch.full_like(target, pad)
        prev[:, 0] = self.start_symbol(tgt_lang)
        prev[:, 1:] = target[:, :-1]
        prev = prev.masked_fill(target.eq(pad), pad)
        bsz, device = src.size(0), src.device
        return Batch(
            ids, src, src_lengths, prev, target, int(target.ne(pad).sum()), bsz,
            self._lang_tensor(src_lang, bsz, device), self._lang_tensor(tgt_lang, bsz, device),
        )  # fmt: skip

    def back_translate(self, model, batch: Batch, lang: str, other: str, update: int) -> tuple[torch.Tensor, ...]:
        """Translate a batch in `lang` into `other` with the current weights: eval mode, no gradient, then back."""
        model = getattr(model, "module", model)  # the DistributedDataParallel wrapper has no encode/decode_step
        was_training = model.training
        model.eval()
        try:
            c = self.config
            search = OnlineSearch(c.bt_sampling, c.bt_temperature, c.bt_max_len_a, c.bt_max_len_b)
            bsz, device = batch.src_tokens.size(0), batch.src_tokens.device
            return translate_batch(
                model, batch.src_tokens, batch.src_lengths, self.start_symbol(other), self.banned_symbols(), search,
                self._lang_tensor(lang, bsz, device), self._lang_tensor(other, bsz, device),
                self._sentence_ids(batch.ids, lang), self.seed, update,
            )  # fmt: skip
        finally:
            model.train(was_training)

    def _sentence_ids(self, ids: torch.Tensor, lang: str) -> torch.Tensor:
        return ids * len(self.langs) + self.lang_ids[lang]  # unique across the languages

    # --- the seam ----------------------------------------------------------------------
    def build_model(self, arch_cls: type, model_config):
        if self.use_embeddings and getattr(model_config, "language_embeddings", 0) < len(self.langs):
            raise UserError(
                f"--language-signal {self.config.language_signal} needs a model with language embeddings: "
                f"--language-embeddings {len(self.langs)} (a Transformer)"
            )
        return arch_cls.build(model_config, len(self.dict), len(self.dict), self.dict.pad_index, self.dict.eos_index)

    def describe_training(self) -> str:
        data = self._training_data()
        sizes = " + ".join(f"{lang} {len(d):,}" for lang, d in data.items())
        return f"unsupervised on {sizes} monolingual sentences (streams ae and bt in both languages)"

    def epoch_plan(self, epoch: int, batching: Batching) -> EpochPlan:
        self.seed = batching.seed
        plans = []
        for k, lang in enumerate(self.langs):
            sizes = self._training_data()[lang].src_sizes
            plan = plan_batches(
                sizes, sizes, batching.max_tokens, batching.max_sentences, batching.max_positions,
                seed=batching.seed + 7919 * k, epoch=epoch,
            )  # fmt: skip
            plans.append(plan)
        count = max(len(plan.batches) for plan in plans)
        if not all(plan.batches for plan in plans):
            raise UserError("a language has no training sentence that fits --max-tokens and the model")
        pairs = [tuple(plan.batches[i % len(plan.batches)] for plan in plans) for i in range(count)]
        return EpochPlan(pairs, sum(plan.skipped for plan in plans))

    def valid_plan(self, batching: Batching) -> EpochPlan:
        valid = self._valid_data()
        plan = plan_batches(
            valid.src_sizes, valid.tgt_sizes, batching.max_tokens, batching.max_sentences, batching.max_positions,
            shuffle=False,
        )  # fmt: skip
        return EpochPlan(plan.batches, plan.skipped)

    def batch(self, ref, train: bool) -> LanguageBatches:
        if train:
            data = self._training_data()
            return LanguageBatches(*(data[lang].batch(ids) for lang, ids in zip(self.langs, ref, strict=True)))
        forward = self._valid_data().batch(ref)
        pad = self.dict.pad_index
        backward = Batch(
            forward.ids, forward.target, forward.target.ne(pad).sum(1), None, forward.src_tokens,
            int(forward.src_tokens.ne(pad).sum()), forward.nsentences,
        )  # fmt: skip
        return LanguageBatches(forward, backward)

    def train_step(self, model, criterion, batch: LanguageBatches, update_num: int):
        update = update_num + 1
        weights = {"ae": self.lambda_ae(update), "bt": self.lambda_bt(update)}
        total = None
        log: dict = {"sample_size": 1, "nsentences": 0, "ntokens": 0, "nll_loss": 0.0, "_batches": 1}
        log.update({f"_lambda_{kind}": weight for kind, weight in weights.items()})
        first, second = self.langs
        for lang, other, x in ((first, second, batch.first), (second, first, batch.second)):
            streams = []
            if weights["ae"] > 0:
                noised, lengths = self.noise()(x.src_tokens, x.src_lengths, self._sentence_ids(x.ids, lang), update)
                streams.append(("ae", self.teacher_batch(x.ids, noised, lengths, lang, x.src_tokens, lang)))
            if weights["bt"] > 0:
                translated, lengths = self.back_translate(model, x, lang, other, update)
                streams.append(("bt", self.teacher_batch(x.ids, translated, lengths, other, x.src_tokens, lang)))
            for kind, pair in streams:
                loss, size, stream_log = criterion(model, pair)
                term = weights[kind] * loss / max(size, 1)
                total = term if total is None else total + term
                _add_stream(log, f"{kind}_{lang}", stream_log, ("ntokens", "nll_loss", "nsentences"))
        if total is None:  # every weight is 0 at this update: nothing to learn from, a zero step
            total = sum(p.sum() * 0.0 for p in model.parameters())
        log["loss"] = float(total.detach())
        return total, 1, log

    def valid_step(self, model, criterion, batch: LanguageBatches) -> dict:
        log: dict = {"loss": 0.0, "nll_loss": 0.0, "ntokens": 0, "sample_size": 0, "nsentences": 0}
        for src, tgt, pair in ((*self.langs, batch.first), (*reversed(self.langs), batch.second)):
            name = f"{src}_{tgt}"
            teacher = self.teacher_batch(pair.ids, pair.src_tokens, pair.src_lengths, src, pair.target, tgt)
            stream_log = criterion(model, teacher)[2]
            _add_stream(log, name, stream_log, ("loss", "nll_loss", "ntokens", "sample_size", "nsentences"))
            log.update(self.translation_statistics(model, pair, src, tgt, name))
        return log

    def translation_statistics(self, model, pair: Batch, src: str, tgt: str, name: str) -> dict:
        """BLEU statistics and the collapse counts of the greedy translations of one direction."""
        from toolkit.scoring.bleu import bleu_statistics
        from toolkit.train.validation_bleu import BleuValidator, EvalBleuConfig

        if self._bleu is None:  # one per target language: each detokenizes as its language's preprocessing
            self._bleu = {
                lang: BleuValidator(EvalBleuConfig(), self.dict, self.text_processor(lang)) for lang in self.langs
            }
        search = OnlineSearch(False, 1.0, 1.2, 10)
        bsz, device = pair.src_tokens.size(0), pair.src_tokens.device
        hyps, lengths = translate_batch(
            model, pair.src_tokens, pair.src_lengths, self.start_symbol(tgt), self.banned_symbols(), search,
            self._lang_tensor(src, bsz, device), self._lang_tensor(tgt, bsz, device),
        )  # fmt: skip
        pad = self.dict.pad_index
        hyp_ids = [hyps[row, : int(lengths[row]) - 1].cpu() for row in range(bsz)]
        ref_ids = [pair.target[row][pair.target[row].ne(pad)][:-1].cpu() for row in range(bsz)]
        src_ids = [pair.src_tokens[row][pair.src_tokens[row].ne(pad)][:-1].cpu() for row in range(bsz)]
        validator = self._bleu[tgt]
        statistics = bleu_statistics([validator.text(h) for h in hyp_ids], [validator.text(r) for r in ref_ids])
        only_source = self._tokens_only_in(src)
        out = {f"{name}:{key}": value for key, value in statistics.items()}
        out[f"{name}:_copies"] = sum(int(torch.equal(h, s)) for h, s in zip(hyp_ids, src_ids, strict=True))
        out[f"{name}:_wrong_tokens"] = sum(int(only_source[h].sum()) for h in hyp_ids)
        out[f"{name}:_hyp_tokens"] = sum(len(h) for h in hyp_ids)
        out[f"{name}:_sentences"] = bsz
        return out

    def _tokens_only_in(self, lang: str) -> torch.Tensor:
        """(V,) bool: symbols that occur in `lang`'s training text and never in the other language's."""
        if self._only_in is None:
            counts = {
                name: np.bincount(np.asarray(data.src.stream(), dtype=np.int64), minlength=len(self.dict)) > 0
                for name, data in self._training_data().items()
            }
            self._only_in = {
                name: torch.from_numpy(seen & ~np.logical_or.reduce([c for n, c in counts.items() if n != name]))
                for name, seen in counts.items()
            }
        return self._only_in[lang]

    def reduce_logs(self, logs: list[dict], criterion) -> dict:
        stats = criterion.reduce_logs(logs)
        if not logs:
            return stats
        keys = {key for log in logs for key in log}
        total = {key: sum(log.get(key, 0) for log in logs) for key in keys}
        streams = sorted({key.split(":")[0] for key in keys if ":" in key})
        for stream in streams:
            if f"{stream}:loss" in total:
                part = {field: total.get(f"{stream}:{field}", 0) for field in ("loss", "nll_loss", "ntokens")}
                part["sample_size"] = total.get(f"{stream}:sample_size", 0)
                stats[f"loss_{stream}"] = criterion.reduce_logs([part])["loss"]
        if "_batches" in total:
            for kind in ("ae", "bt"):
                stats[f"lambda_{kind}"] = total[f"_lambda_{kind}"] / max(total["_batches"], 1)
        directions = [stream for stream in streams if f"{stream}:_sentences" in total]
        if directions:
            from toolkit.train.validation_bleu import bleu_score

            for name in directions:
                bleu = {key.split(":", 1)[1]: value for key, value in total.items() if key.startswith(f"{name}:_bleu_")}
                stats[f"bleu_{name}"] = bleu_score(bleu)
                stats[f"copy_{name}"] = 100.0 * total[f"{name}:_copies"] / max(total[f"{name}:_sentences"], 1)
                stats[f"wrong_lang_{name}"] = (
                    100.0 * total[f"{name}:_wrong_tokens"] / max(total[f"{name}:_hyp_tokens"], 1)
                )
            stats["bleu"] = sum(stats[f"bleu_{name}"] for name in directions) / len(directions)
        return stats

    def valid_metrics(self) -> tuple[str, ...]:
        directions = [f"{a}_{b}" for a, b in (self.langs, self.langs[::-1])]
        per_direction = tuple(f"{m}_{d}" for d in directions for m in ("bleu", "copy", "wrong_lang"))
        return ("loss", "nll_loss", "ppl", "bleu", *per_direction)

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def checkpoint_data(self) -> CheckpointData:
        from toolkit.data.text_processor import recorded_text_processors

        languages = {
            "source": self.langs[0],
            "target": self.langs[1],
            "directions": [list(self.langs), list(reversed(self.langs))],
        }
        if self.use_embeddings:
            languages["ids"] = dict(self.lang_ids)
        if self.use_tags:
            languages["decoder_start"] = {lang: language_tag(lang) for lang in self.langs}
        return CheckpointData(
            languages=languages,
            dictionaries={lang: self.dict.to_state() for lang in self.langs},
            text_processors=recorded_text_processors(self.data_dir, self.langs),
        )

    def dictionary(self, lang: str):
        return self.dict

    def text_processor(self, lang: str):
        return data_text_processor(self.data_dir, lang)


def _add_stream(log: dict, stream: str, stream_log: dict, totals: tuple[str, ...]) -> None:
    """Record a stream's criterion log under `STREAM:key`, and add its `totals` keys to the step's."""
    for key in ("loss", "nll_loss", "ntokens", "sample_size"):
        log[f"{stream}:{key}"] = stream_log[key]
    for key in totals:
        log[key] += stream_log[key]
