"""Datasets for pyro-local: MNIST-format IDX files, a shipped Fashion-MNIST subset,
binarization, and on-device batching and augmentation.

Nothing here downloads data. The full datasets are read from IDX files under a data
root (the ``root`` argument, else ``$PYRO_LOCAL_DATA_DIR``, else ``/usr/share/datasets``):
on Debian, ``apt-get install dataset-fashion-mnist`` installs Fashion-MNIST where the
loader looks by default.
``load("fashion-mnist-small", ...)`` needs no installed data.

Example::

    from pyro_local.data import RandomCropFlip, TensorLoader, load

    train = load("fashion-mnist", "train", device="cuda", normalize="unit")
    loader = TensorLoader(train.images, train.labels, batch_size=128, seed=0,
                          transform=RandomCropFlip(padding=4))
    for x, y in loader:
        ...
"""

from pyro_local.data.augment import RandomCropFlip
from pyro_local.data.binarize import binarize_dynamic, binarize_static
from pyro_local.data.catalog import DatasetInfo
from pyro_local.data.datasets import ImageData, load
from pyro_local.data.errors import CorruptDatasetError, DatasetNotFoundError
from pyro_local.data.loader import TensorLoader
from pyro_local.data.split import train_val_split

__all__ = [
    "CorruptDatasetError",
    "DatasetInfo",
    "DatasetNotFoundError",
    "ImageData",
    "RandomCropFlip",
    "TensorLoader",
    "binarize_dynamic",
    "binarize_static",
    "load",
    "train_val_split",
]
