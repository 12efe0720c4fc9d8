import gzip
import shutil

import numpy as np
import pytest
import torch

import resources
from cgan_core import data
from cgan_core.data import idx
from cgan_core.errors import DataError


def test_reads_good_file_gzip_and_raw(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    idx.write_idx(tmp_path / "a.idx", array)
    idx.write_idx(tmp_path / "a.idx.gz", array, compress=True)
    assert np.array_equal(idx.read_idx(tmp_path / "a.idx"), array)
    assert np.array_equal(idx.read_idx(tmp_path / "a.idx.gz"), array)


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"\x00\x00\x09\x03" + b"\x00" * 12, "bad IDX magic"),  # int8? no: 0x09 is not uint8
        (b"\x00\x00\x08\x03\x00\x00", "header truncated"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", "does not match dimensions"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x00", "dimension is zero"),
        (b"\x00\x00", "too short"),
    ],
)
def test_malformed_files_name_the_file(tmp_path, payload, message):
    path = tmp_path / "bad.idx"
    path.write_bytes(payload)
    with pytest.raises(DataError, match=message) as info:
        idx.read_idx(path)
    assert str(path) in str(info.value)


def test_broken_gzip_and_missing_file(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x04abcd")[:-6])
    with pytest.raises(DataError, match="broken.gz"):
        idx.read_idx(path)
    with pytest.raises(DataError, match="no such file"):
        idx.read_idx(tmp_path / "nope.gz")


def test_checksum_failure_names_the_file(tmp_path):
    for name in data.mnist.MNIST_FILES:
        shutil.copy(resources.MNIST_DIR / name, tmp_path / name)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # one wrong label: still a well-formed IDX file
    labels.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match="checksum mismatch") as info:
        data.load_mnist("test", folder=tmp_path)
    assert "t10k-labels-idx1-ubyte.gz" in str(info.value)


def test_embedded_mnist_is_canonical():
    train = data.load_mnist("train")
    assert train.images.shape == (60000, 1, 28, 28) and train.images.dtype == torch.uint8
    assert train.labels.dtype == torch.int64 and int(train.labels.max()) == 9
    assert train.images[:, :, 0, 0].max() == 0  # polarity: 0 = background


def test_batch_stream_is_seeded_and_restorable():
    a, b = data.BatchStream(100, torch.device("cpu"), 7), data.BatchStream(100, torch.device("cpu"), 7)
    first = [a.next(30) for _ in range(5)]
    assert all(torch.equal(x, b.next(30)) for x in first)
    assert a.epoch == 1  # 3 batches of 30 per epoch of 100, partial batch dropped
    state = a.state_dict()
    expected = [a.next(30) for _ in range(4)]
    c = data.BatchStream(100, torch.device("cpu"), 0)
    c.load_state_dict(state)
    assert all(torch.equal(x, c.next(30)) for x in expected)
