"""The translation task: parallel corpora from a `nmt preprocess` directory, mixed and tagged as asked."""

from __future__ import annotations

from dataclasses import dataclass, field

from toolkit.config import option
from toolkit.data.batching import plan_batches
from toolkit.data.collate import Batch
from toolkit.data.corpus_mix import Corpus, CorpusMix
from toolkit.data.dictionary import Dictionary
from toolkit.data.indexed import MMapIndexedDataset
from toolkit.data.pair_dataset import PairDataset
from toolkit.data.splits import monolingual_prefix, numbered_training_splits, parallel_prefixes
from toolkit.errors import UserError
from toolkit.registry import TASKS
from toolkit.tasks.base import Batching, CheckpointData, EpochPlan
from toolkit.tasks.common import checked_data_dir, data_text_processor, read_meta
from toolkit.train.validation_bleu import EvalBleuConfig

TAG = "<BT>"


@dataclass
class TranslationConfig:
    data: str = ""
    source_lang: str = option("", "source language (default: the one recorded in DATA by preprocess)", short="-s")
    target_lang: str = option("", "target language (default: the one recorded in DATA by preprocess)", short="-t")
    train_subset: str = option(
        "train",
        "training split; 'train' also takes train1, train2, ... found beside it (fairseq's habit); "
        "a comma list (train,bt) names the splits exactly, the first being the primary",
    )
    valid_subset: str = option("valid", "split to validate on")
    upsample_primary: int = option(1, "repeat the primary training split N times per epoch (weights N,1,1,...)")
    subset_weights: str = option(
        "",
        "per training split, how many times each sentence is seen per epoch in expectation, e.g. 2,1,0.5 "
        "(whole parts repeat, a fraction samples without replacement, anew each epoch)",
    )
    tagged_subsets: str = option(
        "", f"comma list of training splits whose sources get the {TAG} tag in front (tagged back-translation)"
    )
    bpe_dropout_per_epoch: bool = option(
        False,
        "with data from `nmt preprocess --bpe-dropout`, train each epoch on the next BPE-dropout copy "
        "of the training split (a new segmentation every epoch, as in the BPE-dropout paper) instead of "
        "on the deterministic split and all its copies at once",
    )
    eval_bleu: EvalBleuConfig = field(default_factory=EvalBleuConfig)

    def validate(self) -> None:
        self.eval_bleu.validate()
        if self.upsample_primary < 1:
            raise ValueError(f"--upsample-primary must be >= 1, got {self.upsample_primary}")
        if self.upsample_primary != 1 and self.subset_weights:
            raise ValueError("--upsample-primary and --subset-weights both set the weights; give one")
        for weight in _split_list(self.subset_weights):
            try:
                ok = float(weight) >= 0
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"--subset-weights: {weight!r} is not a weight >= 0")


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


@TASKS.register("translation", config=TranslationConfig)
class TranslationTask:
    """Supervised translation from a `nmt preprocess` destination directory."""

    def __init__(self, config: TranslationConfig) -> None:
        self.config = config
        self.data_dir = checked_data_dir(config)
        self.meta = read_meta(self.data_dir)
        self.src_lang, self.tgt_lang = self._infer_langs()
        self.src_dict = self._load_dict(self.src_lang)
        self.tgt_dict = self._load_dict(self.tgt_lang)
        self._train: CorpusMix | None = None
        self._valid: PairDataset | None = None
        self._bleu = None  # the BleuValidator, built at the first validation with --eval-bleu
        self._samples: list[str] = []

    # --- data ------------------------------------------------------------------------
    def _infer_langs(self) -> tuple[str, str]:
        src, tgt = self.config.source_lang, self.config.target_lang
        cfg = self.meta.get("config", {})
        src = src or cfg.get("source_lang") or ""
        tgt = tgt or cfg.get("target_lang") or ""
        if not src or not tgt:
            raise UserError(f"{self.data_dir}: cannot tell the languages; pass --source-lang and --target-lang")
        return src, tgt

    def _load_dict(self, lang: str) -> Dictionary:
        path = self.data_dir / f"dict.{lang}.txt"
        if not path.is_file():
            raise UserError(f"{self.data_dir}: missing dictionary dict.{lang}.txt (run nmt preprocess)")
        return Dictionary.load(path)

    def load_split(self, split: str, source_only: bool = False) -> PairDataset:
        """A parallel split (either direction), or with source_only the source text alone.

        source_only reads the source language's monolingual split `SPLIT.SRC-None.SRC` when
        there is one, else the source side of the parallel split.
        """
        mono = monolingual_prefix(self.data_dir, split, self.src_lang) if source_only else None
        pair = None if mono else parallel_prefixes(self.data_dir, split, self.src_lang, self.tgt_lang)
        if mono is None and pair is None and not source_only:
            mono = monolingual_prefix(self.data_dir, split, self.src_lang)
        if mono is None and pair is None:
            names = f"{split}.{self.src_lang}-{self.tgt_lang}.*, {split}.{self.tgt_lang}-{self.src_lang}.*"
            raise UserError(
                f"{self.data_dir}: missing split {split!r} (no {names} or {split}.{self.src_lang}-None.* .bin/.idx)"
            )
        if mono is not None:
            return PairDataset(MMapIndexedDataset(mono), None, self.tgt_dict.pad_index, self.tgt_dict.eos_index)
        src = MMapIndexedDataset(pair[0])
        tgt = None if source_only else MMapIndexedDataset(pair[1])
        return PairDataset(src, tgt, self.tgt_dict.pad_index, self.tgt_dict.eos_index)

    def training_splits(self) -> list[str]:
        listed = _split_list(self.config.train_subset)
        if not listed:
            raise UserError("--train-subset is empty")
        if len(listed) == 1 and "," not in self.config.train_subset:
            return numbered_training_splits(self.data_dir, listed[0], self.src_lang, self.tgt_lang)
        return listed

    def _weights(self, splits: list[str]) -> list[float]:
        given = _split_list(self.config.subset_weights)
        if given:
            if len(given) != len(splits):
                raise UserError(
                    f"--subset-weights gives {len(given)} weights for {len(splits)} "
                    f"training splits ({','.join(splits)})"
                )
            return [float(w) for w in given]
        return [float(self.config.upsample_primary)] + [1.0] * (len(splits) - 1)

    def _training_data(self) -> CorpusMix:
        if self._train is None:
            splits = self.training_splits()
            tagged = set(_split_list(self.config.tagged_subsets))
            unknown = tagged - set(splits)
            if unknown:
                raise UserError(
                    f"--tagged-subsets names {', '.join(sorted(unknown))}, not a training split ({','.join(splits)})"
                )
            tag = self._tag_index() if tagged else None
            corpora = []
            for k, (split, weight) in enumerate(zip(splits, self._weights(splits), strict=True)):
                data = self.load_split(split)
                if data.tgt is None:
                    raise UserError(f"{self.data_dir}: training split {split!r} has no {self.tgt_lang} side")
                rows = self._dropout_rows(split, len(data), 1) if k == 0 else None
                corpora.append(Corpus(split, data, weight, tag if split in tagged else None, rows))
            self._train = CorpusMix(corpora, self.tgt_dict.pad_index, self.tgt_dict.eos_index)
        return self._train

    def _tag_index(self) -> int:
        index = self.src_dict.index(TAG)
        if index == self.src_dict.unk_index:
            raise UserError(
                f"--tagged-subsets: {self.data_dir}/dict.{self.src_lang}.txt has no {TAG} symbol "
                f"(preprocess with --extra-symbols '{TAG}')"
            )
        return index

    def _dropout_rows(self, split: str, num_sentences: int, epoch: int) -> slice | None:
        """The rows of the primary split that `epoch` (from 1) trains on, with per-epoch BPE-dropout.

        preprocess lays the training split out as the deterministic segmentation followed by
        its BPE-dropout copies, each as long as the corpus; per-epoch dropout cycles the copies.
        """
        if not self.config.bpe_dropout_per_epoch:
            return None
        recorded = self.meta.get("config", {})
        copies = int(recorded.get("bpe_dropout_copies", 0)) if recorded.get("bpe_dropout") else 0
        if not copies:
            raise UserError(
                f"{self.data_dir}: --bpe-dropout-per-epoch needs data made with nmt preprocess --bpe-dropout"
            )
        if split != "train":
            raise UserError(f"--bpe-dropout-per-epoch: the copies are in 'train', not {split!r}")
        corpus, remainder = divmod(num_sentences, copies + 1)
        if remainder or not corpus:
            raise UserError(
                f"{self.data_dir}: the training split has {num_sentences} sentences, "
                f"not a multiple of the {copies + 1} segmentations preprocess.json records"
            )
        copy = 1 + (epoch - 1) % copies
        return slice(copy * corpus, (copy + 1) * corpus)

    # --- the seam ----------------------------------------------------------------------
    def build_model(self, arch_cls: type, model_config):
        if getattr(model_config, "share_all_embeddings", False) and self.src_dict != self.tgt_dict:
            raise UserError(
                "--share-all-embeddings needs one joined dictionary, but the source and target "
                f"dictionaries in {self.data_dir} differ (preprocess with --joined-dictionary)"
            )
        return arch_cls.build(
            model_config, len(self.src_dict), len(self.tgt_dict), self.tgt_dict.pad_index, self.tgt_dict.eos_index
        )

    def describe_training(self) -> str:
        mix = self._training_data()
        if len(mix.corpora) == 1 and mix.corpora[0].weight == 1 and mix.corpora[0].rows is None:
            return f"{len(mix)} training sentences"
        return f"training on {mix.describe()}"

    def epoch_plan(self, epoch: int, batching: Batching) -> EpochPlan:
        mix = self._training_data()
        primary = mix.corpora[0]
        if self.config.bpe_dropout_per_epoch:
            primary.rows = self._dropout_rows(primary.name, len(primary.data), epoch)
        ids, src_sizes, tgt_sizes = mix.epoch(batching.seed, epoch)
        plan = plan_batches(
            src_sizes,
            tgt_sizes,
            batching.max_tokens,
            batching.max_sentences,
            batching.max_positions,
            seed=batching.seed,
            epoch=epoch,
        )
        return EpochPlan([ids[b] for b in plan.batches], plan.skipped)

    def valid_plan(self, batching: Batching) -> EpochPlan:
        if self._valid is None:
            self._valid = self.load_split(self.config.valid_subset)
            if self._valid.tgt is None:
                raise UserError(f"{self.data_dir}: validation split {self.config.valid_subset!r} has no references")
        plan = plan_batches(
            self._valid.src_sizes,
            self._valid.tgt_sizes,
            batching.max_tokens,
            batching.max_sentences,
            batching.max_positions,
            shuffle=False,
        )
        return EpochPlan(plan.batches, plan.skipped)

    def batch(self, ref, train: bool) -> Batch:
        return self._training_data().batch(ref) if train else self._valid.batch(ref)

    def train_step(self, model, criterion, batch: Batch, update_num: int):
        return criterion(model, batch)

    def valid_step(self, model, criterion, batch: Batch) -> dict:
        log = criterion(model, batch)[2]
        if self.config.eval_bleu.eval_bleu:
            if self._bleu is None:
                from toolkit.train.validation_bleu import BleuValidator

                self._bleu = BleuValidator(self.config.eval_bleu, self.tgt_dict, self.text_processor(self.tgt_lang))
            statistics, sample = self._bleu.batch_statistics(model, batch)
            log.update(statistics)
            if sample:
                self._samples.append(f"example hypothesis: {sample[0]}\nexample reference: {sample[1]}")
        return log

    def reduce_logs(self, logs: list[dict], criterion) -> dict:
        stats = criterion.reduce_logs(logs)
        if logs and "_bleu_sys_len" in logs[0]:  # summed over batches (and ranks), never averaged
            from toolkit.train.validation_bleu import bleu_score

            totals = {key: sum(log[key] for log in logs) for key in logs[0] if key.startswith("_bleu_")}
            stats["bleu"] = bleu_score(totals)
            stats["messages"], self._samples = self._samples, []
        return stats

    def valid_metrics(self) -> tuple[str, ...]:
        return ("loss", "nll_loss", "ppl") + (("bleu",) if self.config.eval_bleu.eval_bleu else ())

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def checkpoint_data(self) -> CheckpointData:
        from toolkit.data.text_processor import recorded_text_processors

        processors = recorded_text_processors(self.data_dir, [self.src_lang, self.tgt_lang])
        return CheckpointData(
            languages={
                "source": self.src_lang,
                "target": self.tgt_lang,
                "directions": [[self.src_lang, self.tgt_lang]],
            },
            dictionaries={self.src_lang: self.src_dict.to_state(), self.tgt_lang: self.tgt_dict.to_state()},
            text_processors=processors,
        )

    def dictionary(self, lang: str) -> Dictionary:
        if lang == self.src_lang:
            return self.src_dict
        if lang == self.tgt_lang:
            return self.tgt_dict
        return self._load_dict(lang)

    def text_processor(self, lang: str):
        return data_text_processor(self.data_dir, lang)
