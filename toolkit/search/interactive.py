"""`nmt translate` as a function: raw text in, detokenized translations out, streaming.

Input is read `buffer_size` lines at a time and each block is printed before the next is
read, so the command works in a pipe and interactively. Preprocessing (tokenizer, BPE)
comes from the checkpoint; an empty input line gives an empty output line.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import IO

import numpy as np
import torch

from toolkit.errors import UserError
from toolkit.hardware import usable_bf16
from toolkit.search.config import SearchConfig
from toolkit.search.generator import SequenceGenerator
from toolkit.search.loading import InferenceModels, load_models, pick_device
from toolkit.search.output import Postprocessor
from toolkit.search.subset import generation_batches


@dataclass
class TranslateConfig:
    path: str
    search: SearchConfig = field(default_factory=SearchConfig)
    buffer_size: int = 32
    max_tokens: int | None = 12000
    remove_bpe: str | None = "@@ "
    seed: int = 1
    bf16: bool = False
    cpu: bool = False


def _blocks(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(lines)
    while block := list(islice(iterator, size)):
        yield block


class Translator:
    """Holds the loaded models, preprocessing and search; translates blocks of raw lines."""

    def __init__(self, cfg: TranslateConfig) -> None:
        if cfg.buffer_size < 1:
            raise UserError(f"--buffer-size must be at least 1 (got {cfg.buffer_size})")
        torch.manual_seed(cfg.seed)
        self.cfg = cfg
        self.device = pick_device(cfg.cpu)
        self.models: InferenceModels = load_models(cfg.path, self.device)
        processors = self.models.text_processors or {}
        self.src_processor = processors.get("src")
        rng = torch.Generator(device=self.device).manual_seed(cfg.seed) if cfg.search.sampling else None
        self.generator = SequenceGenerator(
            self.models.models,
            cfg.search,
            self.models.tgt_dict.unk_index,
            usable_bf16(cfg.bf16, self.device),
            need_attn=False,
            rng=rng,
        )
        self.post = Postprocessor(self.models.src_dict, self.models.tgt_dict, cfg.remove_bpe, processors.get("tgt"))
        self.max_source = min(m.max_positions()[0] for m in self.models.models)
        self.truncated = 0

    def encode(self, line: str) -> np.ndarray:
        text = self.src_processor.encode(line) if self.src_processor is not None else line
        ids = self.models.src_dict.encode_line(text, append_eos=True)
        if len(ids) > self.max_source:
            self.truncated += 1
            ids = np.concatenate([ids[: self.max_source - 1], ids[-1:]])
        return ids

    def translate_block(self, lines: list[str]) -> list[str]:
        """One output line per input line, in input order."""
        from toolkit.data.collate import collate

        outputs = [""] * len(lines)
        todo = [(i, self.encode(line)) for i, line in enumerate(lines) if line.strip()]
        if not todo:
            return outputs
        sizes = np.array([len(ids) for _, ids in todo])
        pad, eos = self.models.tgt_dict.pad_index, self.models.tgt_dict.eos_index
        for batch_rows in generation_batches(sizes, self.cfg.max_tokens, None):
            batch = collate([todo[r][0] for r in batch_rows], [todo[r][1] for r in batch_rows], None, pad, eos).to(
                self.device
            )
            for line_id, hypos in zip(
                batch.ids.tolist(), self.generator.generate(batch.src_tokens, batch.src_lengths), strict=True
            ):
                outputs[line_id] = self.post.detokenize(hypos[0].tokens) if hypos else ""
        return outputs


def translate_stream(cfg: TranslateConfig, lines: Iterable[str], out: IO[str]) -> int:
    """Translate lines as they arrive; return how many were read (UserError if none)."""
    translator = Translator(cfg)
    count = 0
    for block in _blocks((line.rstrip("\r\n") for line in lines), cfg.buffer_size):
        out.write("".join(text + "\n" for text in translator.translate_block(block)))
        out.flush()
        count += len(block)
    if count == 0:
        raise UserError("no input to translate (the input is empty)")
    if translator.truncated:
        print(
            f"nmt: warning: {translator.truncated} lines were longer than the model's "
            f"{translator.max_source} source positions and were truncated",
            file=sys.stderr,
        )
    return count
