"""--bf16 falls back to fp32, in one warning line, where the hardware would emulate bf16."""

from __future__ import annotations

import os

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


def _nmt_info(argv: list[str], capsys) -> tuple[int, str, str]:
    from cli.main import main

    try:
        main(["info", *argv])
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_nmt_info_plans_bf16_only_where_the_device_runs_it_natively(monkeypatch, capsys):
    seen = []
    for native, planned in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(hardware, "native_bf16", lambda device, native=native: seen.append(device) or native)
        assert _nmt_info(["--precision", "--device", "cpu"], capsys) == (0, f"{planned}\n", "")
        code, out, _ = _nmt_info(["--device", "cpu"], capsys)
        assert code == 0 and f"native bf16            {'yes' if native else 'no'}" in out
        assert out.rstrip().endswith(f"train in               {planned}")
        assert f"cores / torch threads  {os.cpu_count()} / {torch.get_num_threads()}" in out
    assert seen == [torch.device("cpu")] * 4


def test_nmt_info_refuses_an_unknown_device_in_one_line(capsys):
    code, out, err = _nmt_info(["--device", "tpu9"], capsys)
    assert code == 2 and out == "" and err == "nmt: error: info: --device: unknown device 'tpu9'\n"
