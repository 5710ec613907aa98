"""`nmt translate` streams: 50k piped lines in constant memory, output in input order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.helpers.cli import REPO
from tests.helpers.pipeline import WORDS, tiny_checkpoint
from toolkit.search.config import SearchConfig
from toolkit.search.interactive import TranslateConfig, Translator

pytestmark = pytest.mark.slow
LINES = 50_000
VARIANTS = 97  # line i is variant i % 97; every 1000th line is empty


def _line(i: int) -> str:
    if i % 1000 == 999:
        return ""
    v = i % VARIANTS
    return " ".join(WORDS[(v + k) % len(WORDS)] for k in range(1 + v % 7)) + " ."


def _peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to read peak memory")
def test_fifty_thousand_piped_lines_stream_in_order(tmp_path):
    checkpoint = tiny_checkpoint(tmp_path)
    flags = ["--beam", "1", "--max-len-b", "4"]
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "translate", "--path", str(checkpoint), *flags, "--buffer-size", "256"],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    peaks: list[float] = []

    def feed() -> None:
        for i in range(LINES):
            process.stdin.write(_line(i) + "\n")
            if i % 5000 == 4999:
                process.stdin.flush()
                peaks.append(_peak_rss_mib(process.pid))
        process.stdin.close()

    start = time.perf_counter()
    writer = threading.Thread(target=feed)
    writer.start()
    outputs = [line.rstrip("\n") for line in process.stdout]
    writer.join()
    process.wait(timeout=60)
    seconds = time.perf_counter() - start
    assert process.returncode == 0, process.stderr.read()
    assert len(outputs) == LINES

    # Order: the blank lines come back exactly where they went in, and every other line is the
    # translation of its own variant (greedy search, so the same sentence translates the same).
    translator = Translator(TranslateConfig(path=str(checkpoint), search=SearchConfig(beam=1, max_len_b=4)))
    expected = translator.translate_block([_line(i) for i in range(VARIANTS)])
    for i, output in enumerate(outputs):
        assert output == ("" if i % 1000 == 999 else expected[i % VARIANTS]), f"line {i} out of order"

    growth = peaks[-1] - peaks[1]  # after 10k lines versus after 50k
    print(json.dumps({"lines": LINES, "lines_per_s": round(LINES / seconds), "peak_rss_mib": round(peaks[-1]),
                      "growth_10k_to_50k_mib": round(growth, 1)}))  # fmt: skip
    assert growth < 50, f"memory grew {growth:.0f} MiB while streaming: {peaks}"
