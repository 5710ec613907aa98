"""Run the `nmt` command line in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def nmt(
    *args: str, stdin: str | None = None, cwd: Path = REPO, timeout: float = 900, threads: int | None = None
) -> subprocess.CompletedProcess:
    """`python -m cli ARGS` with this checkout importable; output captured as text, never raises on failure."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )


def nmt_ok(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """`nmt` that must succeed; a failure shows the command and the end of its stderr."""
    run = nmt(*args, **kwargs)
    assert run.returncode == 0, f"nmt {' '.join(args)} failed:\n{run.stderr[-2000:]}"
    return run


def nmt_in_process(argv: list[str], capsys) -> tuple[int, str]:
    """Run `nmt ARGV` in this process (faster than a subprocess): its exit code and stderr."""
    from cli.main import main

    try:
        main(argv)
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    return code, capsys.readouterr().err


def nmt_captured(*args: str) -> tuple[int, str]:
    """`nmt ARGS` in this process: (exit code, stdout and stderr together), without pytest's capsys."""
    import contextlib
    import io

    from cli.main import main

    buffer = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        try:
            main(list(args))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return code, buffer.getvalue()
