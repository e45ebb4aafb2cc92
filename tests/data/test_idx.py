"""IDX reading and writing: round trips, the byte layout, and every kind of damage."""

import gzip
import struct

import numpy as np
import pytest

from pyro_local.data import CorruptDatasetError
from pyro_local.data.idx import IDXFormatError, read_idx, write_idx

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", [(7,), (3, 4, 5), (0, 28, 28)], ids=str)
def test_round_trip(tmp_path, dtype, shape, compress):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal(shape) * 50).astype(dtype)
    path = tmp_path / "a.idx"
    write_idx(path, array, compress=compress)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable and back.flags.c_contiguous


def test_reads_hand_built_big_endian_file(tmp_path):
    # An independent encoding of the format: magic 00 00 0B 02, sizes, big-endian int16.
    values = [[1, -2, 300], [-32768, 32767, 0]]
    data = bytes([0, 0, 0x0B, 2]) + struct.pack(">II", 2, 3)
    data += struct.pack(">6h", *(v for row in values for v in row))
    path = tmp_path / "hand.idx"
    path.write_bytes(data)
    np.testing.assert_array_equal(read_idx(path), np.array(values, dtype=np.int16))


def test_writes_the_mnist_layout(tmp_path):
    path = tmp_path / "labels"
    write_idx(path, np.array([5, 0, 4], dtype=np.uint8))
    # The header of an MNIST labels file: 0x00000801, then the count.
    assert path.read_bytes() == bytes.fromhex("00000801 00000003 050004")


def test_compression_is_detected_from_content_not_name(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    gz_without_suffix = tmp_path / "images-idx3-ubyte"
    raw_with_suffix = tmp_path / "images-idx3-ubyte.gz"
    write_idx(gz_without_suffix, array, compress=True)
    write_idx(raw_with_suffix, array, compress=False)
    assert gz_without_suffix.read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(read_idx(gz_without_suffix), array)
    np.testing.assert_array_equal(read_idx(raw_with_suffix), array)


def test_gzip_output_is_deterministic(tmp_path):
    array = np.arange(100, dtype=np.float32)
    write_idx(tmp_path / "a", array, compress=True)
    write_idx(tmp_path / "b", array, compress=True)
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def _valid_bytes():
    return bytes([0, 0, 0x08, 2]) + struct.pack(">II", 2, 3) + bytes(range(6))


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "at least the 4-byte"),
        (b"\x00\x00", "at least the 4-byte"),
        (b"PK\x03\x04" + bytes(20), "not an IDX file"),
        (bytes([0, 1, 8, 1, 0, 0, 0, 1, 7]), "not an IDX file"),
        (bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 7]), "dtype code"),
        (bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0]), "header"),
        (_valid_bytes()[:-1], "truncated"),
        (_valid_bytes() + b"\x00", "extra bytes"),
        (bytes([0, 0, 0x0C, 1]) + struct.pack(">I", 2) + bytes(7), "truncated"),
    ],
    ids=[
        "empty",
        "short-magic",
        "zip-file",
        "nonzero-magic",
        "unknown-dtype",
        "short-header",
        "truncated-data",
        "trailing-bytes",
        "truncated-int32",
    ],
)
def test_malformed_files_name_the_path_and_the_problem(tmp_path, data, message, compress):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(IDXFormatError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_valid_bytes_read(tmp_path):
    # The reference the malformed cases above are cut from is itself valid.
    path = tmp_path / "ok"
    path.write_bytes(_valid_bytes())
    np.testing.assert_array_equal(read_idx(path), np.arange(6, dtype=np.uint8).reshape(2, 3))


@pytest.mark.parametrize(
    "damage",
    [lambda b: b[: len(b) // 2], lambda b: b[:-8] + bytes(x ^ 0xFF for x in b[-8:])],
    ids=["truncated-stream", "bad-crc"],
)
def test_damaged_gzip_stream(tmp_path, damage):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    write_idx(path, np.arange(4000, dtype=np.int32), compress=True)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(IDXFormatError, match="does not decompress") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_errors_are_corrupt_dataset_and_value_errors():
    assert issubclass(IDXFormatError, CorruptDatasetError)
    assert issubclass(IDXFormatError, ValueError)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "absent")


def test_write_rejects_bad_input(tmp_path):
    with pytest.raises(TypeError, match="array: expected a numpy.ndarray"):
        write_idx(tmp_path / "x", [1, 2, 3])
    with pytest.raises(TypeError, match="IDX dtypes"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=bool))
    with pytest.raises(TypeError, match="IDX dtypes"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64))
