"""`nmt translate` as a function: raw text in, detokenized translations out, streaming.

Input is read `buffer_size` lines at a time and each block is printed before the next is
read, so the command works in a pipe and interactively. Preprocessing (tokenizer, BPE)
comes from the checkpoint; an empty input line gives an empty output line.
"""

from __future__ import annotations

import dataclasses
import io
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO

import numpy as np
import torch

from toolkit.config import option
from toolkit.data.tokenize import TOKENIZERS
from toolkit.errors import UserError, note
from toolkit.search.config import SearchConfig, bpe_marker
from toolkit.search.generator import SequenceGenerator
from toolkit.search.loading import QUANTIZATIONS, InferenceModels, inference_bf16, load_models, pick_device
from toolkit.search.output import Postprocessor
from toolkit.search.subset import generation_batches

OUTPUT_FORMATS = ("detok", "tokenized", "bpe")


@dataclass(kw_only=True)
class TranslateConfig:
    """Every `nmt translate` / `nmt interactive` option but the search's own (SearchConfig)."""

    data: str | None = option(
        None,
        "optional data directory (fairseq's DATA): its dictionaries are checked against the checkpoint's",
        positional=True,
    )
    path: str = option(help="checkpoint file; several separated by ':' form an ensemble", metavar="FILE")
    search: SearchConfig = field(default_factory=SearchConfig)
    input: str | None = option(None, "read this file instead of stdin ('-': stdin)", short="-i")
    buffer_size: int | None = option(None, "lines translated together (default 32; 1 on a terminal)")
    batch_size: int | None = option(None, "maximum sentences per batch", aliases=("--max-sentences",))
    max_tokens: int | None = option(12000, "maximum padded source tokens per batch")
    remove_bpe: str | None = option(
        "@@ ",
        "BPE marker to remove when no detokenizer is stored; bare --remove-bpe means '@@ ' (on a checkpoint "
        "preprocessed with --bpe characters: characters)",
        const="@@ ",
    )
    source_lang: str = option(
        "", "source language, one the checkpoint translates from (default: the trained direction's)", short="-s"
    )
    target_lang: str = option(
        "", "target language, one the checkpoint translates into (default: the trained direction's)", short="-t"
    )
    output_format: str = option(
        "detok",
        "detok: detokenized text; tokenized: BPE removed, still tokenized; bpe: the model's subword units "
        "(characters and ▁ after --bpe characters) as they are (to binarize back-translations without a "
        "lossy detokenize/retokenize round trip)",
        choices=OUTPUT_FORMATS,
    )
    tokenizer: str | None = option(
        None,
        "tokenizer for the input and detokenizer for the output (default: the checkpoint's)",
        choices=TOKENIZERS,
    )
    bpe: str | None = option(
        None,
        "subword segmentation of the input: subword-nmt (subword_nmt), characters or none (default: the checkpoint's)",
        choices=("subword-nmt", "characters", "none"),
    )
    bpe_codes: str | None = option(None, "subword-nmt codes file (default: the codes stored in the checkpoint)")
    seed: int = option(1, "random seed (sampling)")
    bf16: bool = option(
        False, "run the model under bfloat16 autocast (ignored, with a note, for int8 models: see --quantize)"
    )
    cpu: bool = option(False, "use the CPU even if CUDA is available")
    user_dir: str | None = option(
        None, "import this module or package first: the tasks and architectures a checkpoint was trained with"
    )
    quantize: str | None = option(
        None,
        "int8: run the linear layers, recurrent cells and vocabulary projection with int8 weights "
        "(per-channel scales) on the CPU (implies --cpu; --bf16 is then ignored); an int8 checkpoint "
        "from nmt quantize runs in int8 without it",
        choices=QUANTIZATIONS,
    )

    def validate(self) -> None:
        if self.buffer_size is not None and self.buffer_size < 1:
            raise UserError(f"--buffer-size must be at least 1 (got {self.buffer_size})")
        if self.batch_size is not None and self.batch_size < 1:
            raise UserError(f"--batch-size must be at least 1 (got {self.batch_size})")
        if self.search.nbest != 1:
            raise UserError("--nbest: translate prints one line per input line; use nmt generate for n-best lists")
        if self.bpe in ("none", "characters") and self.bpe_codes:
            raise UserError(f"--bpe-codes contradicts --bpe {self.bpe}")
        self.remove_bpe = bpe_marker(self.remove_bpe)
        self.search.validate()


def check_data_dictionaries(data: str, models: InferenceModels) -> None:
    """fairseq's positional DATA: its dict.LANG.txt must be the checkpoint's dictionaries."""
    from toolkit.data.dictionary import Dictionary

    src, tgt = models.langs()
    for side, lang, ours in (("source", src, models.src_dict), ("target", tgt, models.tgt_dict)):
        path = Path(data) / f"dict.{lang}.txt"
        if not path.is_file():
            raise UserError(f"{path}: not found (DATA must hold the dictionaries the checkpoint was trained with)")
        if Dictionary.load(path) != ours:
            raise UserError(f"{path} differs from the {side} dictionary of {models.paths[0]}")


def text_processors(cfg: TranslateConfig, models: InferenceModels) -> tuple:
    """(source, target) processors: the checkpoint's, changed where --tokenizer/--bpe/--bpe-codes say."""
    from toolkit.data.text_processor import TextProcessor, TextProcessorConfig

    stored = models.text_processors or {}
    src_lang, tgt_lang = models.langs()
    sides = []
    for side, lang in (("src", src_lang), ("tgt", tgt_lang)):
        processor = stored.get(side)
        base = processor.config if processor is not None else TextProcessorConfig(lang or "en", tokenize="none")
        changes: dict = {}
        if cfg.tokenizer is not None and cfg.tokenizer != base.tokenize:
            note(f"--tokenizer {cfg.tokenizer}: the checkpoint was trained with {base.tokenize}; using {cfg.tokenizer}")
            changes["tokenize"] = cfg.tokenizer
        if side == "src":
            changes.update(_bpe_changes(cfg, base))
        sides.append(TextProcessor(dataclasses.replace(base, **changes)) if changes else processor)
    return sides[0], sides[1]


def _bpe_changes(cfg: TranslateConfig, base) -> dict:
    if cfg.bpe == "none":
        if base.bpe_codes or base.by_characters:
            trained = "characters" if base.by_characters else "BPE"
            note(f"--bpe none: the checkpoint was trained with {trained}; the input is taken as already segmented")
        return {"bpe_codes": None, "bpe": "subword-nmt"}
    if cfg.bpe == "characters":
        if not base.by_characters:
            note("--bpe characters: the checkpoint was not trained on characters; segmenting the input into them")
        return {"bpe_codes": None, "bpe": "characters"}
    if cfg.bpe_codes is None:
        if cfg.bpe is not None and not base.bpe_codes:
            raise UserError(f"--bpe {cfg.bpe}: the checkpoint stores no BPE codes; give --bpe-codes FILE")
        return {}
    try:
        codes = Path(cfg.bpe_codes).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"--bpe-codes {cfg.bpe_codes}: unreadable ({error})") from None
    if codes == base.bpe_codes:
        return {}
    note(f"--bpe-codes {cfg.bpe_codes} differ from the codes stored in the checkpoint; using {cfg.bpe_codes}")
    return {"bpe_codes": codes, "bpe": "subword-nmt"}


def _blocks(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(lines)
    while block := list(islice(iterator, size)):
        yield block


class Translator:
    """Holds the loaded models, preprocessing and search; translates blocks of raw lines."""

    def __init__(self, cfg: TranslateConfig) -> None:
        from toolkit.train.setup import import_user_dir

        import_user_dir(cfg.user_dir)
        torch.manual_seed(cfg.seed)
        self.cfg = cfg
        self.models: InferenceModels = load_models(
            cfg.path, pick_device(cfg.cpu), cfg.source_lang, cfg.target_lang, cfg.quantize
        )
        self.device = self.models.device  # the CPU for int8 models
        if cfg.data:
            check_data_dictionaries(cfg.data, self.models)
        self.src_processor, tgt_processor = text_processors(cfg, self.models)
        rng = torch.Generator(device=self.device).manual_seed(cfg.seed) if cfg.search.sampling else None
        self.generator = SequenceGenerator(
            self.models.models,
            cfg.search,
            self.models.tgt_dict.unk_index,
            inference_bf16(cfg.bf16, self.models),
            need_attn=False,
            rng=rng,
        )
        self.post = Postprocessor(
            self.models.src_dict, self.models.tgt_dict, cfg.remove_bpe, tgt_processor, self.src_processor
        )
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
        for batch_rows in generation_batches(sizes, self.cfg.max_tokens, self.cfg.batch_size):
            batch = collate([todo[r][0] for r in batch_rows], [todo[r][1] for r in batch_rows], None, pad, eos).to(
                self.device
            )
            constraints = self.models.search_arguments(len(batch_rows))
            results = self.generator.generate(batch.src_tokens, batch.src_lengths, **constraints)
            for line_id, hypos in zip(batch.ids.tolist(), results, strict=True):
                outputs[line_id] = self.render(hypos[0].tokens) if hypos else ""
        return outputs

    def render(self, ids: torch.Tensor) -> str:
        """One hypothesis as --output-format asks."""
        if self.cfg.output_format == "bpe":
            return self.models.tgt_dict.string(ids.tolist())
        if self.cfg.output_format == "tokenized":
            return self.post.tokenized(ids)
        return self.post.detokenize(ids)


def translate_stream(cfg: TranslateConfig, lines: Iterable[str], out: IO[str]) -> int:
    """Translate lines as they arrive; return how many were read (UserError if none)."""
    translator = Translator(cfg)
    count = 0
    for block in _blocks((line.rstrip("\r\n") for line in lines), cfg.buffer_size or 32):
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


def translate_command(cfg: TranslateConfig) -> int:
    """`nmt translate`: read --input (or stdin), write translations to stdout."""
    from toolkit.fileio import open_text

    from_file = cfg.input not in (None, "-")
    if from_file:
        source = open_text(cfg.input, encoding_errors="replace")
    else:  # undecodable bytes on stdin become U+FFFD, as with --input, never a traceback
        source = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace", newline="\n")
    if cfg.buffer_size is None:
        cfg = dataclasses.replace(cfg, buffer_size=1 if not from_file and sys.stdin.isatty() else 32)
    try:
        return translate_stream(cfg, source, sys.stdout)
    finally:
        if from_file:
            source.close()
