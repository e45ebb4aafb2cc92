"""Reading and writing IDX files, the format of MNIST, Fashion-MNIST and KMNIST.

An IDX file is a 4-byte magic number ``0x00 0x00 <dtype code> <ndim>``, then ``ndim``
big-endian unsigned 32-bit sizes, then the array's elements in C order, big-endian.
The files are often gzip-compressed; compression is recognised from the gzip magic
bytes ``1f 8b``, never from the file name, so a compressed file without ``.gz`` (or a
raw one with it) still reads.
"""

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from pyro_local.data.errors import CorruptDatasetError

__all__ = ["IDXFormatError", "read_idx", "write_idx"]

GZIP_MAGIC = b"\x1f\x8b"

# The element types the format defines, by their code in the third magic byte.
# Multi-byte types are stored big-endian.
_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder("="): code for code, dtype in _DTYPES.items()}


class IDXFormatError(CorruptDatasetError):
    """
    A file is not a well-formed IDX file, or its contents are not what a dataset
    expects (for example images that are not 28 x 28). The message names the file and
    what was wrong with it.
    """


def _read_bytes(path):
    with open(path, "rb") as f:
        raw = f.read()
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        # gzip raises BadGzipFile (an OSError) for bad headers and CRCs, EOFError for
        # a truncated stream and zlib.error for a corrupt one.
        raise IDXFormatError(
            f"{path}: starts with the gzip magic bytes but does not decompress ({err}); "
            "the file is truncated or corrupt"
        ) from err


def read_idx(path):
    """
    Reads an IDX file, raw or gzip-compressed, into a NumPy array.

    The header is checked in full: the two leading zero bytes, a known dtype code, and
    a byte count that equals exactly what the dimensions call for (a truncated file, or
    one with trailing bytes, is rejected rather than silently reshaped).

    :param path: the file to read.
    :type path: str or os.PathLike
    :returns: the array, in native byte order, with the dtype and shape in the header.
    :rtype: numpy.ndarray
    :raises FileNotFoundError: if ``path`` does not exist.
    :raises IDXFormatError: if the file is not a complete, well-formed IDX file.

    Example::

        images = read_idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
        assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    """
    path = Path(os.fspath(path))
    data = _read_bytes(path)
    if len(data) < 4:
        raise IDXFormatError(
            f"{path}: expected at least the 4-byte IDX magic number, got {len(data)} bytes"
        )
    if data[0] != 0 or data[1] != 0:
        raise IDXFormatError(
            f"{path}: expected an IDX magic number starting with bytes 00 00, got "
            f"{data[:4].hex(' ')}; this is not an IDX file"
        )
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        known = ", ".join(f"0x{c:02x}" for c in _DTYPES)
        raise IDXFormatError(f"{path}: expected an IDX dtype code in {{{known}}}, got 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXFormatError(
            f"{path}: expected a {header}-byte header for {ndim} dimensions, "
            f"got {len(data)} bytes; the file is truncated"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _DTYPES[code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "followed by extra bytes"
        raise IDXFormatError(
            f"{path}: expected {expected} bytes for an array of shape {shape} and dtype "
            f"{dtype.newbyteorder('=')}, got {len(data)}; the file is {problem}"
        )
    flat = np.frombuffer(data, dtype=dtype, offset=header)
    # astype copies, so the result is writable and owns its memory (torch.from_numpy
    # warns on the read-only view of the bytes).
    return flat.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def write_idx(path, array, compress=False):
    """
    Writes an array as an IDX file, the inverse of :func:`read_idx`.

    :param path: the file to write; its name does not decide compression.
    :type path: str or os.PathLike
    :param array: the data; its dtype must be one IDX defines: uint8, int8, int16,
        int32, float32 or float64.
    :type array: numpy.ndarray
    :param bool compress: whether to gzip the file.
    :raises TypeError: if ``array`` is not a NumPy array of an IDX dtype.
    :raises ValueError: if ``array`` has more than 255 dimensions.
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"array: expected a numpy.ndarray, got {type(array).__name__}")
    native = array.dtype.newbyteorder("=")
    if native not in _CODES:
        names = ", ".join(str(d) for d in _CODES)
        raise TypeError(f"array: expected one of the IDX dtypes ({names}), got {array.dtype}")
    if array.ndim > 255:
        raise ValueError(f"array: expected at most 255 dimensions, got {array.ndim}")
    header = bytes([0, 0, _CODES[native], array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    body = np.ascontiguousarray(array, dtype=native.newbyteorder(">")).tobytes()
    data = header + body
    if compress:
        # mtime=0 makes the output a function of the array alone.
        data = gzip.compress(data, mtime=0)
    with open(path, "wb") as f:
        f.write(data)
