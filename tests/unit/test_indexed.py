import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.data.indexed import IndexedDatasetBuilder, MMapIndexedDataset, best_dtype, dataset_exists
from toolkit.errors import UserError


def _build(prefix, sequences, dtype=np.uint16):
    builder = IndexedDatasetBuilder(prefix, dtype)
    for seq in sequences:
        builder.add(seq)
    builder.finalize()
    return MMapIndexedDataset(prefix)


def test_best_dtype():
    assert best_dtype(256) == np.uint8
    assert best_dtype(257) == np.uint16
    assert best_dtype(65536) == np.uint16
    assert best_dtype(65537) == np.uint32


def test_random_access_and_sizes(tmp_path):
    rng = np.random.default_rng(0)
    sequences = [rng.integers(0, 1000, size=rng.integers(0, 30)) for _ in range(200)]
    ds = _build(tmp_path / "train", sequences)
    assert dataset_exists(tmp_path / "train") and len(ds) == 200
    assert ds.dtype == np.uint16
    assert ds.sizes.tolist() == [len(s) for s in sequences]
    for i in rng.permutation(200):
        assert ds[i].dtype == np.int64
        np.testing.assert_array_equal(ds[i], sequences[i])
    np.testing.assert_array_equal(ds[-1], sequences[-1])
    with pytest.raises(IndexError):
        ds[200]
    again = pickle.loads(pickle.dumps(ds))
    assert len(pickle.dumps(ds)) < 200  # pickles as its path, not its data
    np.testing.assert_array_equal(again[17], sequences[17])


def test_empty_dataset_and_byte_layout(tmp_path):
    ds = _build(tmp_path / "e", [[]], np.uint8)
    assert len(ds) == 1 and ds[0].size == 0
    ds = _build(tmp_path / "b", [[1, 2], [3]], np.uint8)
    assert (tmp_path / "b.bin").read_bytes() == bytes([1, 2, 3])
    assert ds.offsets.tolist() == [0, 2]


def test_rejects_foreign_files(tmp_path):
    _build(tmp_path / "x", [[1, 2, 3]])
    idx = tmp_path / "x.idx"
    idx.write_bytes(b"MMIDIDX\x00" + idx.read_bytes()[8:])
    with pytest.raises(UserError, match="magic"):
        MMapIndexedDataset(tmp_path / "x")
    with pytest.raises(UserError, match="not found"):
        MMapIndexedDataset(tmp_path / "missing")


def test_out_of_range_ids_rejected(tmp_path):
    with pytest.raises(ValueError):
        IndexedDatasetBuilder(tmp_path / "o", np.uint8).add([256])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.integers(0, 2**16 - 1), max_size=8), min_size=1, max_size=20))
def test_roundtrip_property(tmp_path_factory, sequences):
    prefix = tmp_path_factory.mktemp("prop") / "d"
    ds = _build(prefix, sequences)
    assert [ds[i].tolist() for i in range(len(ds))] == sequences
