"""The README.md written into an exported CTranslate2 model directory: how to translate with it."""

from __future__ import annotations

import json
from pathlib import Path

_WITH_PROCESSORS = """\
import json

import ctranslate2
from toolkit.data.text_processor import TextProcessor  # nmt's own tokenizer + BPE

MODEL = "{model}"
recorded = json.load(open(f"{{MODEL}}/nmt_export.json", encoding="utf-8"))
source = TextProcessor.from_state(recorded["text_processors"]["{src}"])
target = TextProcessor.from_state(recorded["text_processors"]["{tgt}"])
translator = ctranslate2.Translator(MODEL, device="cpu", inter_threads=1, intra_threads=2)

lines = {example}
batch = [source.encode(line).split() for line in lines]  # tokenized and BPE-segmented as in training
results = translator.translate_batch(
    batch,
    beam_size=5,  # nmt's --beam 5 (CTranslate2's default is 2)
    length_penalty=1.0,  # nmt's --lenpen 1: score / length
    return_end_token=True,  # so that the length counts the final </s>, as nmt's does
    max_decoding_length=200,  # nmt's --max-len-b 200 (--max-len-a 0)
    max_input_length={max_source},  # the model's source positions
    suppress_sequences=[["<pad>"]],  # nmt never generates padding
)
special = {{"<s>", "<pad>", "</s>"}}
for result in results:
    tokens = [t for t in result.hypotheses[0] if t not in special]
    print(target.decode(" ".join(tokens)))  # BPE removed, then detokenized
"""

_WITHOUT_PROCESSORS = """\
import ctranslate2

MODEL = "{model}"
translator = ctranslate2.Translator(MODEL, device="cpu", inter_threads=1, intra_threads=2)

# The checkpoint records no tokenizer or BPE: give text segmented as the training data was.
lines = ["..."]
results = translator.translate_batch(
    [line.split() for line in lines],
    beam_size=5, length_penalty=1.0, return_end_token=True, max_decoding_length=200,
    max_input_length={max_source}, suppress_sequences=[["<pad>"]],
)
special = {{"<s>", "<pad>", "</s>"}}
for result in results:
    print(" ".join(t for t in result.hypotheses[0] if t not in special).replace("@@ ", ""))
"""

_EXAMPLES = {"de": ["Ein Mann fährt mit dem Fahrrad."], "en": ["A man is riding a bike."]}


def readme_text(model_dir: Path, metadata: dict) -> str:
    """README.md for `model_dir`, with the checkpoint's languages, limits and text processing filled in."""
    src, tgt = metadata["source_lang"], metadata["target_lang"]
    has_processors = src in metadata["text_processors"] and tgt in metadata["text_processors"]
    template = _WITH_PROCESSORS if has_processors else _WITHOUT_PROCESSORS
    code = template.format(
        model=str(model_dir),
        src=src,
        tgt=tgt,
        example=json.dumps(_EXAMPLES.get(src, ["..."]), ensure_ascii=False),
        max_source=metadata["max_source_positions"],
    )
    text_note = (
        f"`nmt_export.json` holds the checkpoint's text processing of {src} and {tgt} (Moses settings and BPE\n"
        "codes); `TextProcessor.from_state` rebuilds it, so text is treated exactly as in training."
        if has_processors
        else "The checkpoint records no tokenizer or BPE: give text segmented as the training data was."
    )
    return f"""# {src}→{tgt} Transformer for CTranslate2

Exported by nmt {metadata["nmt_version"]} (`nmt export --format ctranslate2`) from
`{metadata["checkpoint"]}` (`--arch {metadata["arch"]}`); weights: {metadata["quantization"]}.

| file | what it is |
|---|---|
| `model.bin`, `config.json` | the model, in CTranslate2's format |
| `*vocabulary.json` | nmt's dictionaries, symbol for symbol (`<s>` `<pad>` `</s>` `<unk>` at ids 0-3) |
| `nmt_export.json` | where it came from, its limits, and the text processing of both languages |

{text_note}
The decoder starts from `{metadata["decoder_start_token"]}`, as nmt's search does, and CTranslate2 appends `</s>` to
each source, as `nmt preprocess` did. It needs `pip install ctranslate2` and, for the text
processing, nmt itself (`toolkit` importable).

```python
{code}```

The options make CTranslate2 search as `nmt generate --beam 5` does; CTranslate2's own defaults
differ (beam 2, at most 256 tokens, the length without `</s>`). With `--max-len-a A` the cap is
`int(A * (len(tokens) + 1) + 200)` per sentence. `compute_type="int8"` in `ctranslate2.Translator`
quantizes a float32 export when it loads; `nmt export --quantization int8` stores int8 weights
(smaller on disk).
"""
