"""CTranslate2 on an `nmt export`ed model: sentences/s, BLEU, load time and size on disk.

For benchmarks/generate_speed.py (one call per exported model):

    from _ctranslate2 import export, measure_ctranslate2
    model_dir = export(CHECKPOINT, scratch / "ct2-int8", "int8")       # `nmt export`, timed
    figures = measure_ctranslate2(model_dir, CHECKPOINT, DATA, subset="test", beam=5, batch_size=128)

Standalone (exports float32 and int8 into a temporary directory, then measures both):

    python benchmarks/_ctranslate2.py DATA_DIR CHECKPOINT [--subset test] [--beam 5] [--batch-size 128]

The search is toolkit.export.ctranslate2_search.translate_ids: nmt generate's batches (sorted by
length, --batch-size sentences) and its search options (beam, length penalty, length caps);
BLEU is sacreBLEU on text detokenized by the checkpoint's own text processor, as nmt generate
scores it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def export(checkpoint: str | os.PathLike, model_dir: str | os.PathLike, quantization: str | None = None) -> Path:
    """`nmt export --format ctranslate2 CHECKPOINT MODEL_DIR [--quantization Q] --force`; prints its line and time."""
    command = [sys.executable, "-m", "cli", "export", "--format", "ctranslate2", str(checkpoint), str(model_dir)]
    command += ["--force"] + (["--quantization", quantization] if quantization else [])
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if result.returncode:
        print(result.stderr, file=sys.stderr)
        sys.exit(result.returncode)
    print(f"nmt export ({quantization or 'float32'}): {time.perf_counter() - start:.1f} s; {result.stdout.strip()}")
    return Path(model_dir)


def measure_ctranslate2(
    model_dir: str | os.PathLike,
    checkpoint: str | os.PathLike,
    data: str | os.PathLike,
    *,
    subset: str = "test",
    beam: int = 5,
    batch_size: int = 128,
    threads: int = 2,
    compute_type: str = "default",
    max_len_a: float = 0.0,
    max_len_b: int = 200,
    lenpen: float = 1.0,
) -> dict:
    """Translate DATA's SUBSET with the CTranslate2 model in MODEL_DIR (CHECKPOINT gives the dictionaries,
    text processing and task the model was exported from). Returns

        sentences, search_seconds, sentences_per_second   the search alone, as nmt generate times it
        load_seconds                                      ctranslate2.Translator(MODEL_DIR) (import excluded)
        wall_seconds                                      load + search
        bleu, signature                                   sacreBLEU on detokenized text
        size_mib                                          MODEL_DIR on disk
    """
    from toolkit.export.ctranslate2_search import load_translator, translate_ids
    from toolkit.scoring.bleu import corpus_bleu
    from toolkit.tasks import inference_task
    from toolkit.train.checkpoint import load_model_for_inference

    loaded = load_model_for_inference(checkpoint)
    dataset = inference_task(loaded.config, str(data), loaded.src_lang, loaded.tgt_lang).load_split(subset)
    sources = [dataset.src[i] for i in range(len(dataset))]
    start = time.perf_counter()
    translator = load_translator(model_dir, threads=threads, compute_type=compute_type)
    load_seconds = time.perf_counter() - start
    start = time.perf_counter()
    best = translate_ids(
        translator,
        sources,
        loaded.src_dict,
        loaded.tgt_dict,
        max_target_positions=loaded.model.config.max_target_positions,
        beam=beam,
        lenpen=lenpen,
        max_len_a=max_len_a,
        max_len_b=max_len_b,
        batch_size=batch_size,
    )
    search_seconds = time.perf_counter() - start
    figures = {
        "sentences": len(sources),
        "search_seconds": round(search_seconds, 3),
        "sentences_per_second": round(len(sources) / search_seconds, 1),
        "load_seconds": round(load_seconds, 3),
        "wall_seconds": round(load_seconds + search_seconds, 3),
        "size_mib": round(sum(f.stat().st_size for f in Path(model_dir).iterdir() if f.is_file()) / 2**20, 2),
    }
    if dataset.tgt is not None:
        processor = (loaded.text_processors or {}).get("tgt")

        def detokenize(ids) -> str:
            text = loaded.tgt_dict.string(ids)
            return processor.decode(text) if processor is not None else loaded.tgt_dict.string(ids, "@@ ")

        hyps = [detokenize(ids) for ids in best]
        refs = [detokenize(dataset.tgt[i]) for i in range(len(dataset))]
        bleu = corpus_bleu(hyps, refs)
        figures.update(bleu=round(bleu.score, 2), signature=bleu.signature)
    return figures


def main() -> None:
    from _machine import cpu_name

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("checkpoint")
    parser.add_argument("--subset", default="test")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quantization", nargs="+", default=["float32", "int8"])
    args = parser.parse_args()
    import ctranslate2

    version = ctranslate2.__version__
    print(f"machine: {os.cpu_count()} cores, {cpu_name()}; CTranslate2 {version}, {args.threads} threads")
    print(f"config: {args.checkpoint} on {args.data} [{args.subset}], beam {args.beam}, batch size {args.batch_size}")
    with tempfile.TemporaryDirectory(prefix="ct2-bench.") as scratch:
        for quantization in args.quantization:
            model_dir = export(args.checkpoint, Path(scratch) / quantization, quantization)
            f = measure_ctranslate2(
                model_dir, args.checkpoint, args.data, subset=args.subset, beam=args.beam,
                batch_size=args.batch_size, threads=args.threads,
            )  # fmt: skip
            print(
                f"ct2 {quantization:8s} search: {f['sentences_per_second']:.0f} sentences/s ({f['sentences']} in "
                f"{f['search_seconds']:.1f} s); load {f['load_seconds']:.2f} s; wall with loading "
                f"{f['wall_seconds']:.1f} s; BLEU {f.get('bleu', '?')}; {f['size_mib']:.1f} MiB on disk",
                flush=True,
            )


if __name__ == "__main__":
    main()
