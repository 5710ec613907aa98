"""Streaming preprocess writes the bytes recorded before it streamed (tests/fixtures/preprocess_bytes.json)."""

from __future__ import annotations

import gzip
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import preprocess_bytes
from toolkit.data import preprocess as preprocess_module
from toolkit.errors import UserError


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("bytes")
    return root, preprocess_bytes.write_corpus(root)


def _check(name: str, raw, dest_root) -> dict[str, str]:
    hashes = preprocess_bytes.run_config(name, raw, dest_root)
    recorded = preprocess_bytes.load_fixture()[name]
    assert preprocess_bytes.differences(recorded, hashes) == [], name
    assert sum(k.endswith((".bin", ".idx")) for k in hashes) >= 6
    return hashes


@pytest.mark.parametrize("chunk_lines", [7, None], ids=["tiny-chunks", "default-chunks"])
def test_every_configuration_writes_the_recorded_bytes(corpus, monkeypatch, chunk_lines):
    root, raw = corpus
    if chunk_lines:  # many chunks per file, so chunk and window boundaries fall inside every split
        monkeypatch.setattr(preprocess_module, "CHUNK_LINES", chunk_lines, raising=False)
    names = list(preprocess_bytes.CONFIGS) if chunk_lines else ["joined", "dropout_workers2", "only_source"]
    for name in names:
        _check(name, raw, root / f"chunks-{chunk_lines}")


def test_one_and_two_workers_write_the_same_bytes(corpus):
    fixture = preprocess_bytes.load_fixture()
    for name in ("joined", "separate", "dropout"):
        assert fixture[name] == fixture[f"{name}_workers2"]
        assert len(fixture[name]) >= 20  # 18 datasets files, 2 dictionaries, codes, preprocess.json keys


def _whole_file_lines(raw: bytes) -> list[str]:
    """What preprocess read before streaming: the whole file decoded, split at "\\n" only."""
    lines = raw.decode("utf-8", errors="replace").split("\n")
    return lines[:-1] if lines[-1] == "" else lines


_BYTES = st.lists(
    st.sampled_from([b"a", b" ", b"\n", b"\r", b"\xc3\xa4", b"\xe2\x80\xa8", b"\x0c", b"\xff", b"\xc3", b"\x85"]),
    max_size=60,
).map(b"".join)


@settings(max_examples=60, deadline=None)
@given(raw=_BYTES, gz=st.booleans(), block=st.integers(1, 9), chunk=st.integers(1, 5))
def test_streamed_reading_equals_reading_the_whole_file(tmp_path_factory, raw, gz, block, chunk):
    from toolkit.data import inputs

    path = tmp_path_factory.mktemp("read") / ("f.gz" if gz else "f")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    expected = _whole_file_lines(raw)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inputs, "READ_BLOCK", block)  # blocks cut inside lines and inside UTF-8 sequences
        scanned = inputs.scan_file(path, "replace", keep_lines=True)
        assert scanned.num_lines == len(expected) and scanned.lines == expected
        assert [line for part in scanned.chunks(chunk) for line in part] == expected
        assert scanned.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() and scanned.size == path.stat().st_size
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as error:
            line = raw.count(b"\n", 0, error.start) + 1
            with pytest.raises(UserError, match=rf", line {line}: invalid UTF-8 byte 0x{raw[error.start]:02x} "):
                inputs.scan_file(path, "strict")
