"""The real Fashion-MNIST files from Debian's dataset-fashion-mnist, where installed."""

import numpy as np
import pytest
import torch

from pyro_local.data import load
from pyro_local.data.catalog import DatasetInfo, get_info
from pyro_local.data.datasets import training_stats
from pyro_local.data.idx import read_idx

from .fakes import DEBIAN_FASHION_MNIST, needs_debian_files

pytestmark = needs_debian_files


@pytest.mark.parametrize("split, n", [("train", 60000), ("test", 10000)])
def test_sizes_and_label_counts(split, n):
    # root=None and no environment variable (see conftest): Debian's location is used.
    data = load("fashion-mnist", split, normalize="raw")
    assert data.images.shape == (n, 1, 28, 28) and data.images.dtype == torch.uint8
    assert data.labels.bincount(minlength=10).tolist() == [n // 10] * 10
    assert data.class_names[0] == "T-shirt/top"


def test_stored_statistics_match_the_training_images():
    # Exact integer sums of the raw pixels, independent of training_stats' histogram.
    images = read_idx(DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz")
    n = images.size
    total = sum(int(c.sum(dtype=np.int64)) for c in np.array_split(images, 6))
    squares = sum(int((c.astype(np.int64) ** 2).sum()) for c in np.array_split(images, 6))
    mean = total / (255 * n)
    std = (squares / (255**2 * n) - mean**2) ** 0.5
    info = get_info("fashion-mnist")
    # The constants are rounded to 7 decimals.
    assert abs(info.mean - mean) <= 5e-8 and abs(info.std - std) <= 5e-8
    # The histogram path (used where no constant is stored) agrees with the sums.
    unmeasured = DatasetInfo("fashion-mnist", info.class_names)
    computed = training_stats(unmeasured, root=DEBIAN_FASHION_MNIST.parent)
    assert computed == (pytest.approx(mean, rel=1e-12), pytest.approx(std, rel=1e-12))


def test_standardised_training_set_has_zero_mean_unit_variance():
    # float32 pixels, float32 reductions over 47 million values: a 1e-5 tolerance.
    data = load("fashion-mnist", "train", normalize="standardize")
    assert data.images.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert data.images.std(correction=0).item() == pytest.approx(1.0, abs=1e-5)
