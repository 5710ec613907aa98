"""The translation task: which data directory, which languages, which splits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from toolkit.config import option
from toolkit.data.dictionary import Dictionary
from toolkit.data.indexed import MMapIndexedDataset, dataset_exists
from toolkit.data.pair_dataset import PairDataset
from toolkit.errors import UserError
from toolkit.registry import TASKS


@dataclass
class TranslationConfig:
    data: str = ""
    source_lang: str = option("", "source language (default: the one recorded in DATA by preprocess)", short="-s")
    target_lang: str = option("", "target language (default: the one recorded in DATA by preprocess)", short="-t")
    train_subset: str = option("train", "split to train on")
    valid_subset: str = option("valid", "split to validate on")
    bpe_dropout_per_epoch: bool = option(
        False,
        "with data from `nmt preprocess --bpe-dropout`, train each epoch on the next BPE-dropout copy "
        "of the training split (a new segmentation every epoch, as in the BPE-dropout paper) instead of "
        "on the deterministic split and all its copies at once",
    )


@TASKS.register("translation", config=TranslationConfig)
class TranslationTask:
    """Supervised translation from a `nmt preprocess` destination directory."""

    def __init__(self, config: TranslationConfig) -> None:
        self.config = config
        self.data_dir = Path(config.data)
        if not self.data_dir.is_dir():
            raise UserError(f"data directory not found: {self.data_dir}")
        self.meta = self._read_meta()
        self.src_lang, self.tgt_lang = self._infer_langs()
        self.src_dict = self._load_dict(self.src_lang)
        self.tgt_dict = self._load_dict(self.tgt_lang)

    def _read_meta(self) -> dict:
        path = self.data_dir / "preprocess.json"
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise UserError(f"{path}: unreadable ({error})") from None

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

    def split_prefix(self, split: str, lang: str) -> Path:
        return self.data_dir / f"{split}.{self.src_lang}-{self.tgt_lang}.{lang}"

    def load_split(self, split: str) -> PairDataset:
        prefixes = [self.split_prefix(split, lang) for lang in (self.src_lang, self.tgt_lang)]
        for prefix in prefixes:
            if not dataset_exists(prefix):
                raise UserError(f"{self.data_dir}: missing split {split!r} ({prefix.name}.bin/.idx)")
        src, tgt = (MMapIndexedDataset(p) for p in prefixes)
        return PairDataset(src, tgt, self.tgt_dict.pad_index, self.tgt_dict.eos_index)

    def epoch_rows(self, epoch: int, num_sentences: int) -> slice:
        """The rows of the training split that epoch `epoch` (from 1) trains on.

        preprocess lays the training split out as the deterministic segmentation followed by
        its BPE-dropout copies, each as long as the corpus; per-epoch dropout cycles the copies.
        """
        if not self.config.bpe_dropout_per_epoch:
            return slice(0, num_sentences)
        recorded = self.meta.get("config", {})
        copies = int(recorded.get("bpe_dropout_copies", 0)) if recorded.get("bpe_dropout") else 0
        if not copies:
            raise UserError(
                f"{self.data_dir}: --bpe-dropout-per-epoch needs data made with nmt preprocess --bpe-dropout"
            )
        if self.config.train_subset != "train":
            raise UserError(f"--bpe-dropout-per-epoch: the copies are in 'train', not {self.config.train_subset!r}")
        corpus, remainder = divmod(num_sentences, copies + 1)
        if remainder or not corpus:
            raise UserError(
                f"{self.data_dir}: the training split has {num_sentences} sentences, "
                f"not a multiple of the {copies + 1} segmentations preprocess.json records"
            )
        copy = 1 + (epoch - 1) % copies
        return slice(copy * corpus, (copy + 1) * corpus)
