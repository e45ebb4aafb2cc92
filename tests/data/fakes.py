"""Helpers for the data tests: small fake IDX datasets and the Debian-files skip mark."""

import numpy as np
import pytest

from pyro_local.data import locate
from pyro_local.data.catalog import IDX_FILE_NAMES, Split
from pyro_local.data.idx import write_idx

DEBIAN_FASHION_MNIST = locate.DEBIAN_DATA_ROOT / "fashion-mnist"
needs_debian_files = pytest.mark.skipif(
    not DEBIAN_FASHION_MNIST.is_dir(),
    reason=f"needs Debian's dataset-fashion-mnist in {DEBIAN_FASHION_MNIST} "
    "(apt-get install dataset-fashion-mnist)",
)


def write_fake_dataset(root, name, sizes=None, compress=True, seed=0, num_classes=10):
    """
    Writes random 28 x 28 uint8 images and cyclic labels as IDX files under
    ``root/name``.

    :returns: ``{split: (images, labels)}``, the arrays written.
    """
    sizes = {Split.TRAIN: 30, Split.TEST: 20} if sizes is None else sizes
    rng = np.random.default_rng(seed)
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, n in sizes.items():
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % num_classes).astype(np.uint8)
        suffix = ".gz" if compress else ""
        image_name, label_name = IDX_FILE_NAMES[split]
        write_idx(folder / (image_name + suffix), images, compress=compress)
        write_idx(folder / (label_name + suffix), labels, compress=compress)
        written[split] = (images, labels)
    return written
