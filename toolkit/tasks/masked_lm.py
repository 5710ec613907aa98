"""masked_lm: cross-lingual masked-LM pretraining (XLM) over the languages' monolingual text.

Each language's monolingual training split (`train.LANG-None.LANG`) is read as one stream of
tokens, sentences back to back with their EOS, and cut into blocks of --tokens-per-sample
(straight from the memory map: a corpus of any size costs no memory). An epoch is every block of
every language once, shuffled by (seed, epoch). In each block --mask-prob of the tokens are
chosen; of those 80% become <mask>, 10% a random symbol and 10% stay (fairseq's and BERT's
split; --random-token-prob, --leave-unmasked-prob change it), and the loss is the cross-entropy
on the chosen positions only. The choice is a pure function of (seed, update, block), so resume
is exact. Validation reads both sides of the parallel valid split the same way, masked as at
update 0 (the same positions every time).

The model is the translation Transformer's encoder (toolkit/models/masked_lm.py) with a
language embedding per language when --language-embeddings is set; its checkpoint is for
`nmt train --init-from` (mapping `xlm`), not for translation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from toolkit.config import option
from toolkit.data.collate import Batch
from toolkit.data.indexed import MMapIndexedDataset
from toolkit.data.noise import uniform
from toolkit.data.splits import monolingual_prefix, parallel_prefixes
from toolkit.errors import UserError
from toolkit.registry import TASKS
from toolkit.tasks.base import Batching, CheckpointData, EpochPlan
from toolkit.tasks.common import (
    checked_data_dir,
    data_text_processor,
    first_text_symbol,
    joined_dictionary,
    symbol_index,
    task_languages,
)

MASK = "<mask>"
_CHOOSE, _KIND, _RANDOM = 0x3A5C01, 0x3A5C02, 0x3A5C03


@dataclass
class MaskedLMConfig:
    data: str = ""
    langs: str = option("", "the languages, in id order, e.g. en,fr (default: the pair preprocess recorded)")
    tokens_per_sample: int = option(128, "block length: each language's text is cut into blocks of N tokens")
    mask_prob: float = option(0.15, "share of the tokens chosen for prediction")
    leave_unmasked_prob: float = option(0.1, "of the chosen tokens, the share left as they are")
    random_token_prob: float = option(0.1, "of the chosen tokens, the share replaced by a random symbol")
    train_subset: str = option("train", "split whose monolingual text (SPLIT.LANG-None.LANG) is trained on")
    valid_subset: str = option("valid", "parallel split whose two sides are validated on")

    def validate(self) -> None:
        if self.tokens_per_sample < 2:
            raise ValueError(f"--tokens-per-sample must be >= 2, got {self.tokens_per_sample}")
        if not 0 < self.mask_prob < 1:
            raise ValueError(f"--mask-prob must be in (0, 1), got {self.mask_prob}")
        for name in ("leave_unmasked_prob", "random_token_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"--{name.replace('_', '-')} must be in [0, 1], got {getattr(self, name)}")
        if self.leave_unmasked_prob + self.random_token_prob > 1:
            raise ValueError("--leave-unmasked-prob plus --random-token-prob must be at most 1")


class BlockStreams:
    """Blocks of several token streams, numbered across all of them: block id -> (stream, start)."""

    def __init__(self, streams: list[np.ndarray], block: int) -> None:
        self.streams, self.block = streams, block
        counts = [(len(s) + block - 1) // block for s in streams]
        self.first = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)  # first block id of each stream

    def __len__(self) -> int:
        return int(self.first[-1])

    def stream_of(self, ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.first, ids, side="right") - 1

    def batch(self, ids: np.ndarray, pad_index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(tokens (B, L) right-padded, lengths (B,), stream index (B,)) of the blocks `ids`."""
        streams = self.stream_of(ids)
        pieces = []
        for block_id, stream in zip(ids.tolist(), streams.tolist(), strict=True):
            start = (block_id - int(self.first[stream])) * self.block
            pieces.append(np.asarray(self.streams[stream][start : start + self.block], dtype=np.int64))
        lengths = [len(p) for p in pieces]
        tokens = np.full((len(pieces), max(lengths)), pad_index, dtype=np.int64)
        for row, piece in enumerate(pieces):
            tokens[row, : len(piece)] = piece
        return torch.from_numpy(tokens), torch.tensor(lengths), torch.from_numpy(streams.astype(np.int64))


def mask_tokens(
    tokens: torch.Tensor,
    block_ids: torch.Tensor,
    update: int,
    seed: int,
    config: MaskedLMConfig,
    pad_index: int,
    mask_index: int,
    first_symbol: int,
    vocab: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs with the chosen tokens masked/randomised/kept, targets: the original at chosen positions, else pad)."""
    positions = torch.arange(tokens.size(1), device=tokens.device)[None, :]
    ids = block_ids.to(tokens.device).long()[:, None]
    real = tokens.ne(pad_index)
    chosen = (uniform(seed, update, ids, positions, _CHOOSE) < config.mask_prob) & real
    if not bool(chosen.any()):  # a batch must predict something: the first token of its first block
        chosen[0, 0] = True
    kind = uniform(seed, update, ids, positions, _KIND)
    keep_below = config.leave_unmasked_prob
    random_below = keep_below + config.random_token_prob
    randoms = first_symbol + (uniform(seed, update, ids, positions, _RANDOM) * (vocab - first_symbol)).long()
    inputs = torch.where(chosen & (kind >= random_below), torch.full_like(tokens, mask_index), tokens)
    inputs = torch.where(chosen & (kind >= keep_below) & (kind < random_below), randoms, inputs)
    targets = torch.where(chosen, tokens, torch.full_like(tokens, pad_index))
    return inputs, targets


@TASKS.register("masked_lm", config=MaskedLMConfig)
class MaskedLMTask:
    """Cross-lingual masked-LM pretraining (XLM) of a Transformer encoder on monolingual text."""

    def __init__(self, config: MaskedLMConfig) -> None:
        self.config = config
        self.data_dir = checked_data_dir(config)
        self.langs = task_languages(self.data_dir, config.langs)
        self.dict = joined_dictionary(self.data_dir, self.langs)
        self.mask_index = symbol_index(self.dict, MASK, self.data_dir, "by --task masked_lm")
        self.first_symbol = first_text_symbol(self.dict)
        self.seed = 1
        self._train: BlockStreams | None = None
        self._valid: BlockStreams | None = None

    def _streams(self, split: str, parallel: bool) -> BlockStreams:
        streams = []
        for lang in self.langs:
            if parallel:
                other = next(lg for lg in self.langs if lg != lang)
                pair = parallel_prefixes(self.data_dir, split, lang, other)
                prefix = pair[0] if pair else monolingual_prefix(self.data_dir, split, lang)
            else:
                prefix = monolingual_prefix(self.data_dir, split, lang)
            if prefix is None:
                raise UserError(f"{self.data_dir}: no {lang} text in split {split!r} ({split}.{lang}-None.{lang})")
            streams.append(MMapIndexedDataset(prefix).stream())
        return BlockStreams(streams, self.config.tokens_per_sample)

    # --- the seam ----------------------------------------------------------------------
    def build_model(self, arch_cls: type, model_config):
        from toolkit.models.masked_lm import MaskedLMEncoder
        from toolkit.models.transformer import TransformerConfig

        if not isinstance(model_config, TransformerConfig):
            raise UserError("--task masked_lm trains a Transformer encoder: choose a transformer --arch")
        if model_config.language_embeddings and model_config.language_embeddings < len(self.langs):
            raise UserError(
                f"--language-embeddings {model_config.language_embeddings}: fewer than the {len(self.langs)} languages"
            )
        if self.config.tokens_per_sample > model_config.max_source_positions:
            raise UserError(
                f"--tokens-per-sample {self.config.tokens_per_sample} exceeds --max-source-positions "
                f"{model_config.max_source_positions}"
            )
        return MaskedLMEncoder(model_config, len(self.dict), self.dict.pad_index, self.dict.eos_index)

    def describe_training(self) -> str:
        train = self._training_blocks()
        sizes = ", ".join(f"{lang} {len(s):,} tokens" for lang, s in zip(self.langs, train.streams, strict=True))
        return f"masked LM on {len(train):,} blocks of {self.config.tokens_per_sample} ({sizes})"

    def _training_blocks(self) -> BlockStreams:
        if self._train is None:
            self._train = self._streams(self.config.train_subset, parallel=False)
        return self._train

    def _blocks_per_batch(self, batching: Batching) -> int:
        by_tokens = (batching.max_tokens or 0) // self.config.tokens_per_sample
        limits = [n for n in (by_tokens, batching.max_sentences or 0) if n > 0]
        return max(1, min(limits)) if limits else 32

    def epoch_plan(self, epoch: int, batching: Batching) -> EpochPlan:
        self.seed = batching.seed
        order = np.random.default_rng([batching.seed, epoch]).permutation(len(self._training_blocks()))
        size = self._blocks_per_batch(batching)
        return EpochPlan([order[i : i + size] for i in range(0, len(order), size)])

    def valid_plan(self, batching: Batching) -> EpochPlan:
        if self._valid is None:
            self._valid = self._streams(self.config.valid_subset, parallel=True)
        size = self._blocks_per_batch(batching)
        ids = np.arange(len(self._valid))
        return EpochPlan([ids[i : i + size] for i in range(0, len(ids), size)])

    def batch(self, ref, train: bool) -> Batch:
        blocks = self._training_blocks() if train else self._valid
        tokens, lengths, streams = blocks.batch(np.asarray(ref), self.dict.pad_index)
        return Batch(
            torch.as_tensor(np.asarray(ref), dtype=torch.long), tokens, lengths, None, None, 0, len(ref), streams, None
        )

    def _masked(self, batch: Batch, update: int) -> Batch:
        inputs, targets = mask_tokens(
            batch.src_tokens, batch.ids, update, self.seed, self.config, self.dict.pad_index, self.mask_index,
            self.first_symbol, len(self.dict),
        )  # fmt: skip
        return Batch(
            batch.ids, inputs, batch.src_lengths, None, targets, int(targets.ne(self.dict.pad_index).sum()),
            batch.nsentences, batch.src_lang, None,
        )  # fmt: skip

    def train_step(self, model, criterion, batch: Batch, update_num: int):
        return criterion(model, self._masked(batch, update_num + 1))

    def valid_step(self, model, criterion, batch: Batch) -> dict:
        return criterion(model, self._masked(batch, 0))[2]

    def reduce_logs(self, logs: list[dict], criterion) -> dict:
        return criterion.reduce_logs(logs)

    def valid_metrics(self) -> tuple[str, ...]:
        return ("loss", "nll_loss", "ppl")

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def checkpoint_data(self) -> CheckpointData:
        from toolkit.data.text_processor import recorded_text_processors

        return CheckpointData(
            languages={
                "source": self.langs[0],
                "target": self.langs[1],
                "directions": [],  # a masked LM translates nothing
                "ids": {lang: i for i, lang in enumerate(self.langs)},
            },
            dictionaries={lang: self.dict.to_state() for lang in self.langs},
            text_processors=recorded_text_processors(self.data_dir, self.langs),
        )

    def load_split(self, split: str, source_only: bool = False):
        raise UserError("a masked_lm model does not translate; use its checkpoint with nmt train --init-from")

    def dictionary(self, lang: str):
        return self.dict

    def text_processor(self, lang: str):
        return data_text_processor(self.data_dir, lang)
