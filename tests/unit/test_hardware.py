"""--bf16 falls back to fp32, in one warning line, where the hardware would emulate bf16."""

from __future__ import annotations

import torch

from toolkit import hardware


def test_bf16_is_kept_where_native_and_dropped_with_one_warning_elsewhere(monkeypatch, capsys):
    cpu = torch.device("cpu")
    monkeypatch.setattr(hardware, "native_bf16", lambda device: True)
    assert hardware.usable_bf16(True, cpu) is True
    assert hardware.usable_bf16(False, cpu) is False
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(hardware, "native_bf16", lambda device: False)
    assert hardware.usable_bf16(False, cpu) is False
    assert capsys.readouterr().err == ""  # nothing asked, nothing said
    assert hardware.usable_bf16(True, cpu) is False
    err = capsys.readouterr().err
    assert err.startswith("warning: --bf16 ignored") and "running in fp32" in err
    assert len(err.strip().splitlines()) == 1
