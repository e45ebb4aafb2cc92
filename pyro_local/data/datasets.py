"""Loading MNIST-format datasets as tensors on a chosen device.

:func:`load` reads Fashion-MNIST, MNIST or KMNIST from their IDX files (found as
:mod:`pyro_local.data.locate` describes) or the Fashion-MNIST subset that ships inside
pyro-local, and returns an :class:`ImageData` record of tensors.
"""

from dataclasses import dataclass
from enum import Enum

import numpy as np
import torch

from pyro_local._checks import check_enum
from pyro_local.data.catalog import DatasetInfo, Split, get_info
from pyro_local.data.errors import CorruptDatasetError
from pyro_local.data.idx import read_idx
from pyro_local.data.locate import find_idx_files
from pyro_local.data.shipped import read_shipped

__all__ = ["ImageData", "Normalization", "load", "training_stats"]


class Normalization(str, Enum):
    """
    How :func:`load` scales pixel intensities; the string values are accepted too.

    - ``"raw"``: the stored integers in [0, 255], as uint8 unless another dtype is asked
      for (the values are then converted unchanged).
    - ``"unit"``: ``x / 255``, floats in [0, 1]; what binarization expects.
    - ``"standardize"``: ``(x / 255 - mean) / std`` with the mean and standard deviation
      of the full training set's pixels (Fashion-MNIST: 0.2860 and 0.3530), the same
      constants for the training and test splits. See :func:`training_stats`.
    """

    RAW = "raw"
    UNIT = "unit"
    STANDARDIZE = "standardize"


@dataclass(frozen=True, eq=False)
class ImageData:
    """
    One split of an image dataset, as tensors on one device.

    :param torch.Tensor images: (N, 1, H, W), or (N, H * W) when loaded flat.
    :param torch.Tensor labels: int64 class labels, shape (N,).
    :param torch.Tensor index: int64, shape (N,): each example's row in the split it was
        read from (for the shipped subset, its row in the full dataset), so that subsets
        keep their provenance.
    :param DatasetInfo info: the dataset's name, class names and statistics.
    :param split: ``"train"`` or ``"test"`` (a string enum).
    :param normalization: how the pixel values were scaled: ``"raw"``, ``"unit"`` or
        ``"standardize"`` (a string enum; see :func:`load`).
    """

    images: torch.Tensor
    labels: torch.Tensor
    index: torch.Tensor
    info: DatasetInfo
    split: Split
    normalization: Normalization

    def __len__(self):
        return self.labels.shape[0]

    @property
    def class_names(self):
        return self.info.class_names

    @property
    def num_classes(self):
        return self.info.num_classes

    @property
    def device(self):
        return self.images.device

    def subset(self, indices):
        """
        :param torch.Tensor indices: int64 positions (or a bool mask) into this split.
        :returns: the selected examples as a new :class:`ImageData`.
        """
        indices = torch.as_tensor(indices, device=self.labels.device)
        return ImageData(
            self.images[indices],
            self.labels[indices],
            self.index[indices],
            self.info,
            self.split,
            self.normalization,
        )

    def to(self, device):
        """:returns: a copy of the record with its tensors on ``device``."""
        return ImageData(
            self.images.to(device),
            self.labels.to(device),
            self.index.to(device),
            self.info,
            self.split,
            self.normalization,
        )


def _read_idx_split(info, split, root):
    images_path, labels_path = find_idx_files(info, split, root)
    images, labels = read_idx(images_path), read_idx(labels_path)
    height, width = info.image_shape
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (height, width):
        raise CorruptDatasetError(
            f"{images_path}: expected uint8 images of shape (N, {height}, {width}), got "
            f"{images.dtype} of shape {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise CorruptDatasetError(
            f"{labels_path}: expected a uint8 vector of labels, got {labels.dtype} of shape "
            f"{labels.shape}"
        )
    if len(labels) != len(images):
        raise CorruptDatasetError(
            f"{labels_path}: expected {len(images)} labels, one per image in {images_path}, "
            f"got {len(labels)}"
        )
    if len(labels) and labels.max() >= info.num_classes:
        raise CorruptDatasetError(
            f"{labels_path}: expected labels in [0, {info.num_classes}), got {labels.max()}"
        )
    return images, labels, np.arange(len(labels), dtype=np.int64)


def _read_split(info, split, root):
    if info.shipped_file is not None:
        return read_shipped(info, split)
    return _read_idx_split(info, split, root)


def training_stats(name="fashion-mnist", root=None):
    """
    The mean and standard deviation of a dataset's training-set pixel intensities on
    [0, 1], as :attr:`Normalization.STANDARDIZE` uses them: the constants in
    :class:`DatasetInfo` where pyro-local has measured them, else computed (exactly,
    from the histogram of pixel values) from the training split found under ``root``.

    :param str name: the dataset name.
    :param root: the data root, as for :func:`load`.
    :returns: ``(mean, std)`` as Python floats.
    """
    info = get_info(name)
    if info.mean is not None and info.std is not None:
        return info.mean, info.std
    images, _, _ = _read_split(info, Split.TRAIN, root)
    return _pixel_stats(images)


def _pixel_stats(images):
    # Exact in float64 whatever the size: 256 bins instead of 47 million floats.
    counts = np.bincount(images.ravel(), minlength=256).astype(np.float64)
    values = np.arange(256, dtype=np.float64) / 255.0
    mean = counts @ values / counts.sum()
    var = counts @ (values - mean) ** 2 / counts.sum()
    return float(mean), float(np.sqrt(var))


def _tensor(array):
    # torch.from_numpy warns on read-only arrays (np.load may return them).
    return torch.from_numpy(array if array.flags.writeable else array.copy())


def _resolve_dtype(dtype, normalization):
    if dtype is None:
        return torch.uint8 if normalization is Normalization.RAW else torch.get_default_dtype()
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype: expected a torch.dtype, got {type(dtype).__name__}")
    if normalization is not Normalization.RAW and not dtype.is_floating_point:
        raise TypeError(
            f"dtype: expected a floating dtype for normalize={normalization.value!r}, got "
            f"{dtype}; use normalize='raw' for integers"
        )
    return dtype


def load(
    name="fashion-mnist",
    split="train",
    *,
    root=None,
    device=None,
    dtype=None,
    normalize="unit",
    flatten=False,
):
    """
    Loads one split of an MNIST-format dataset as tensors on a device.

    The data is read once on the CPU, moved to ``device`` as uint8 (a quarter of the
    bytes of float32) and converted there.

    :param str name: ``"fashion-mnist"``, ``"mnist"``, ``"kmnist"``, or
        ``"fashion-mnist-small"`` (the stratified subset shipped inside pyro-local, 500
        training and 100 test images per class, which needs no installed data); or a
        :class:`DatasetInfo` for another MNIST-format dataset under a data root.
    :param str split: ``"train"`` or ``"test"``.
    :param root: the data root: a folder holding one subfolder per dataset name
        (``<root>/fashion-mnist/train-images-idx3-ubyte.gz``, ...). ``None`` searches the
        environment variable ``PYRO_LOCAL_DATA_DIR``, then Debian's
        ``/usr/share/datasets``. Ignored for the shipped subset.
    :type root: str or os.PathLike or None
    :param device: where the tensors go; default CPU.
    :type device: torch.device or str or None
    :param torch.dtype dtype: the images' dtype; default uint8 for ``"raw"`` and
        ``torch.get_default_dtype()`` otherwise.
    :param str normalize: ``"raw"``: the stored integers in [0, 255]; ``"unit"``:
        ``x / 255``, floats in [0, 1] (what binarization expects); ``"standardize"``:
        ``(x / 255 - mean) / std`` with the mean and standard deviation of the full
        training set's pixels (Fashion-MNIST: 0.2860 and 0.3530), the same constants for
        the training and test splits.
    :param bool flatten: return images as (N, H * W) instead of (N, 1, H, W).
    :returns: the images, int64 labels and their metadata.
    :rtype: ImageData
    :raises DatasetNotFoundError: if the files are in none of the searched places.
    :raises CorruptDatasetError: if a file is damaged or does not hold what it should.

    Example::

        from pyro_local.data import load

        train = load("fashion-mnist-small", "train", normalize="standardize")
        assert train.images.shape == (5000, 1, 28, 28)
        print(train.class_names[train.labels[0]])
    """
    info = get_info(name)
    split = check_enum(Split, split, "split")
    normalization = check_enum(Normalization, normalize, "normalize")
    dtype = _resolve_dtype(dtype, normalization)
    device = torch.device("cpu") if device is None else torch.device(device)
    if not isinstance(flatten, bool):
        raise TypeError(f"flatten: expected a bool, got {type(flatten).__name__}")

    images_np, labels_np, index_np = _read_split(info, split, root)
    if normalization is Normalization.STANDARDIZE:
        if split is Split.TRAIN and (info.mean is None or info.std is None):
            mean, std = _pixel_stats(images_np)  # already in hand: no second read
        else:
            mean, std = training_stats(info, root)

    images = _tensor(images_np).to(device)
    if normalization is Normalization.RAW:
        images = images.to(dtype)
    else:
        images = images.to(dtype).div_(255.0)
        if normalization is Normalization.STANDARDIZE:
            images = images.sub_(mean).div_(std)
    images = images.reshape(len(images), -1) if flatten else images.unsqueeze(1)
    labels = _tensor(labels_np).to(device=device, dtype=torch.int64)
    index = _tensor(index_np).to(device)
    return ImageData(images, labels, index, info, split, normalization)
