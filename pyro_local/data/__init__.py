"""Datasets for pyro-local: MNIST-format IDX files, a shipped Fashion-MNIST subset,
binarization, and on-device batching and augmentation.

Nothing here downloads data. The full datasets are read from IDX files under a data
root (see :mod:`pyro_local.data.locate`): on Debian, ``apt-get install
dataset-fashion-mnist`` installs Fashion-MNIST where the loader looks by default.
``load("fashion-mnist-small", ...)`` needs no installed data.

Example::

    from pyro_local.data import RandomCropFlip, TensorLoader, load

    train = load("fashion-mnist", "train", device="cuda", normalize="unit")
    loader = TensorLoader(train.images, train.labels, batch_size=128, seed=0,
                          transform=RandomCropFlip(padding=4))
    for x, y in loader:
        ...
"""

from pyro_local.data.augment import (
    RandomCropFlip,
    crop,
    hflip,
    random_crop,
    random_hflip,
    sample_crop_offsets,
)
from pyro_local.data.binarize import binarize_dynamic, binarize_static, binarize_threshold
from pyro_local.data.catalog import (
    DATASETS,
    FASHION_MNIST_CLASSES,
    KMNIST_CLASSES,
    MNIST_CLASSES,
    DatasetInfo,
    Split,
    get_info,
)
from pyro_local.data.datasets import ImageData, Normalization, load, training_stats
from pyro_local.data.errors import CorruptDatasetError, DatasetNotFoundError
from pyro_local.data.idx import IDXFormatError, read_idx, write_idx
from pyro_local.data.loader import TensorLoader, derive_seed
from pyro_local.data.locate import ENV_VAR, find_idx_files, search_roots
from pyro_local.data.split import stratified_split, train_val_split

__all__ = [
    "DATASETS",
    "ENV_VAR",
    "FASHION_MNIST_CLASSES",
    "KMNIST_CLASSES",
    "MNIST_CLASSES",
    "CorruptDatasetError",
    "DatasetInfo",
    "DatasetNotFoundError",
    "IDXFormatError",
    "ImageData",
    "Normalization",
    "RandomCropFlip",
    "Split",
    "TensorLoader",
    "binarize_dynamic",
    "binarize_static",
    "binarize_threshold",
    "crop",
    "derive_seed",
    "find_idx_files",
    "get_info",
    "hflip",
    "load",
    "random_crop",
    "random_hflip",
    "read_idx",
    "sample_crop_offsets",
    "search_roots",
    "stratified_split",
    "train_val_split",
    "training_stats",
    "write_idx",
]
