"""`nmt export`: options from ExportConfig; calls toolkit.export.ctranslate2."""

from __future__ import annotations

from cli.options import parse_command

DESCRIPTION = (
    "Convert a Transformer checkpoint into a CTranslate2 model directory (weights, vocabularies, the "
    "text processing of both languages, and a README showing how to translate with it)."
)


def run(argv: list[str], prog: str = "nmt export") -> None:
    from toolkit.export.ctranslate2 import ExportConfig, export_ctranslate2

    config = parse_command(prog, DESCRIPTION, ExportConfig, argv)
    written = export_ctranslate2(config)
    print(
        f"exported {config.checkpoint} ({written['source_lang']}->{written['target_lang']}, {written['arch']}) "
        f"to {written['output_dir']}: {written['quantization']}, {written['size_bytes'] / 2**20:.1f} MiB; "
        f"see {written['output_dir']}/README.md"
    )
