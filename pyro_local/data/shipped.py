"""Reading the small datasets that ship inside pyro-local, so that demos and tests run on
a machine with no dataset installed.

Each is one ``.npz`` file under ``pyro_local/data/shipped/`` (written by
:mod:`pyro_local.data.make_shipped`) with, for each split ``s`` in ``train`` and
``test``: ``s_images`` (uint8, N x 28 x 28), ``s_labels`` (uint8, N) and ``s_index``
(int64, N: each example's row in the full dataset's split), plus ``seed``,
``per_class_train``, ``per_class_test`` and ``notice`` (the source's licence notice).
"""

import zipfile
from pathlib import Path

import numpy as np

from pyro_local.data.errors import CorruptDatasetError, DatasetNotFoundError

__all__ = ["SHIPPED_DIR", "read_shipped"]

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"


def read_shipped(info, split):
    """
    Reads one split of a shipped subset.

    :param DatasetInfo info: a dataset whose ``shipped_file`` is set.
    :param Split split: the split.
    :returns: ``(images, labels, index)`` as NumPy arrays: uint8 images of shape
        (N, H, W), uint8 labels and the int64 rows of the examples in the full dataset.
    :raises DatasetNotFoundError: if the file is not installed.
    :raises CorruptDatasetError: if it is damaged or holds the wrong arrays.
    """
    if info.shipped_file is None:
        raise ValueError(f"info: expected a shipped dataset, got {info.name!r}")
    path = SHIPPED_DIR / info.shipped_file
    regenerate = "python -m pyro_local.data.make_shipped"
    if not path.is_file():
        raise DatasetNotFoundError(
            f"The subset {info.name!r} that ships inside pyro-local is missing: expected "
            f"{path}. Reinstall pyro-local, or regenerate the file from Debian's "
            f"dataset-fashion-mnist with `{regenerate}`."
        )
    keys = tuple(f"{split.value}_{k}" for k in ("images", "labels", "index"))
    try:
        # Open the file here: np.load leaks its own handle when the zip is unreadable.
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            images, labels, index = (npz[k] for k in keys)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise CorruptDatasetError(
            f"{path}: cannot read the arrays {', '.join(keys)} ({err}); the file is "
            f"damaged. Reinstall pyro-local or regenerate it with `{regenerate}`."
        ) from err
    height, width = info.image_shape
    n = len(labels)
    expected = {
        keys[0]: (np.uint8, (n, height, width)),
        keys[1]: (np.uint8, (n,)),
        keys[2]: (np.int64, (n,)),
    }
    for key, array in zip(keys, (images, labels, index), strict=True):
        dtype, shape = expected[key]
        if array.dtype != dtype or array.shape != shape:
            raise CorruptDatasetError(
                f"{path}: expected {key} of dtype {np.dtype(dtype)} and shape {shape}, got "
                f"{array.dtype} and {array.shape}. Regenerate it with `{regenerate}`."
            )
    return images, labels, index

