"""A `--user-dir` module that injects faults into checkpoint writing, chosen by NMT_TEST_FAULT.

    kill-during-save:N   the N-th checkpoint write stops half-way with SIGKILL (a power cut)
    enospc-on-save:N     the N-th checkpoint write fails with "No space left on device"

Loaded by `nmt train --user-dir tests/helpers/fault_plugin.py` in a subprocess only, so
production code carries no test hooks.
"""

from __future__ import annotations

import errno
import io
import os
import signal

import torch

_real_save = torch.save
_kind, _, _when = os.environ.get("NMT_TEST_FAULT", "").partition(":")
_calls = 0


def _faulty_save(obj, f, *args, **kwargs):
    global _calls
    _calls += 1
    if _kind and _calls == int(_when):
        if _kind == "enospc-on-save":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if _kind == "kill-during-save":
            buffer = io.BytesIO()
            _real_save(obj, buffer, *args, **kwargs)
            with open(f, "wb") as handle:
                handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
                handle.flush()
                os.fsync(handle.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
    return _real_save(obj, f, *args, **kwargs)


torch.save = _faulty_save
