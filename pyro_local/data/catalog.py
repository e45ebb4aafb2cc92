"""The datasets the loader knows, by name: their files, classes and pixel statistics.

All of them are 28 x 28 grey-scale images in ten classes, stored as IDX files with the
MNIST file names, except ``fashion-mnist-small``, a subset of Fashion-MNIST that ships
inside pyro-local (see :mod:`pyro_local.data.make_shipped`).
"""

from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType

__all__ = [
    "DATASETS",
    "FASHION_MNIST_CLASSES",
    "KMNIST_CLASSES",
    "MNIST_CLASSES",
    "DatasetInfo",
    "Split",
    "get_info",
]


class Split(str, Enum):
    """The two splits every dataset here has; ``"train"`` and ``"test"`` are accepted too."""

    TRAIN = "train"
    TEST = "test"


# The IDX file names (without the optional .gz) of the images and labels of each split.
IDX_FILE_NAMES = MappingProxyType(
    {
        Split.TRAIN: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        Split.TEST: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    }
)

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MNIST_CLASSES = tuple(str(d) for d in range(10))
# Romanised names of the ten hiragana of Kuzushiji-MNIST, in label order.
KMNIST_CLASSES = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")


@dataclass(frozen=True)
class DatasetInfo:
    """
    What the loader knows about one dataset.

    :param str name: the name :func:`~pyro_local.data.load` takes.
    :param tuple class_names: the class of each label value, in label order.
    :param tuple image_shape: the (height, width) of every image.
    :param float mean: the mean pixel intensity of the full training set, on [0, 1],
        or ``None`` where pyro-local has not measured it (it is then computed from the
        training split at load time).
    :param float std: the standard deviation of the pixel intensities of the full
        training set, on [0, 1] (population, over all pixels), or ``None``.
    :param str debian_package: the Debian package that installs the files, if any.
    :param str shipped_file: for a subset shipped inside pyro-local, the file name
        under ``pyro_local/data/shipped/``; ``None`` for datasets read from IDX files.
    """

    name: str
    class_names: tuple
    image_shape: tuple = (28, 28)
    mean: float | None = None
    std: float | None = None
    debian_package: str | None = None
    shipped_file: str | None = None

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def folder_name(self):
        """The folder that holds this dataset's IDX files under a data root."""
        return self.name


# Measured from Debian's dataset-fashion-mnist training images (60000 x 784 pixels,
# float64); tests/data/test_real_files.py checks them against those files.
_FASHION_MNIST_MEAN = 0.2860406
_FASHION_MNIST_STD = 0.3530242

DATASETS = MappingProxyType(
    {
        "fashion-mnist": DatasetInfo(
            "fashion-mnist",
            FASHION_MNIST_CLASSES,
            mean=_FASHION_MNIST_MEAN,
            std=_FASHION_MNIST_STD,
            debian_package="dataset-fashion-mnist",
        ),
        "mnist": DatasetInfo("mnist", MNIST_CLASSES),
        "kmnist": DatasetInfo("kmnist", KMNIST_CLASSES),
        # The subset standardises with the full set's statistics, so that a model
        # trained on it sees inputs on the scale the full dataset gives.
        "fashion-mnist-small": DatasetInfo(
            "fashion-mnist-small",
            FASHION_MNIST_CLASSES,
            mean=_FASHION_MNIST_MEAN,
            std=_FASHION_MNIST_STD,
            shipped_file="fashion-mnist-small.npz",
        ),
    }
)


def get_info(name):
    """
    :param str name: a dataset name, one of :data:`DATASETS`.
    :returns: the dataset's :class:`DatasetInfo`.
    :raises ValueError: for an unknown name.
    """
    if isinstance(name, DatasetInfo):
        return name
    if not isinstance(name, str):
        raise TypeError(f"name: expected a dataset name (str), got {type(name).__name__}")
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(repr(n) for n in DATASETS)
        raise ValueError(f"name: expected one of {known}, got {name!r}") from None
