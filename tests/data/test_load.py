"""load(): shapes, dtypes, devices, normalisations and the checks on file contents."""

import numpy as np
import pytest
import torch

from pyro_local.data import CorruptDatasetError, ImageData, load
from pyro_local.data.catalog import FASHION_MNIST_CLASSES, DatasetInfo, Split
from pyro_local.data.datasets import Normalization, training_stats
from pyro_local.data.idx import IDXFormatError, write_idx

from .fakes import write_fake_dataset


@pytest.fixture
def fake(tmp_path):
    return tmp_path, write_fake_dataset(tmp_path, "fashion-mnist")


def test_raw_images_and_labels(fake, device):
    root, written = fake
    for split in Split:
        data = load("fashion-mnist", split.value, root=root, device=device, normalize="raw")
        images, labels = written[split]
        assert isinstance(data, ImageData)
        assert data.split is split and data.normalization is Normalization.RAW
        assert data.images.shape == (len(images), 1, 28, 28)
        assert data.images.dtype == torch.uint8 and data.labels.dtype == torch.int64
        assert data.images.device == device and data.labels.device == device
        np.testing.assert_array_equal(data.images[:, 0].cpu().numpy(), images)
        np.testing.assert_array_equal(data.labels.cpu().numpy(), labels)
        np.testing.assert_array_equal(data.index.cpu().numpy(), np.arange(len(images)))


def test_unit_is_raw_over_255(fake):
    root, written = fake
    data = load("fashion-mnist", root=root, dtype=torch.float64)
    raw = written[Split.TRAIN][0].astype(np.float64)
    np.testing.assert_array_equal(data.images[:, 0].numpy(), raw / 255.0)
    assert data.images.dtype == torch.float64
    assert load("fashion-mnist", root=root).images.dtype == torch.get_default_dtype()


def test_standardize_uses_the_full_training_set_constants(fake):
    root, written = fake
    mean, std = training_stats("fashion-mnist")
    assert (mean, std) == (pytest.approx(0.2860406), pytest.approx(0.3530242))
    for split in Split:
        data = load("fashion-mnist", split, root=root, dtype=torch.float64, normalize="standardize")
        expected = (written[split][0].astype(np.float64) / 255.0 - mean) / std
        np.testing.assert_allclose(data.images[:, 0].numpy(), expected, rtol=1e-12, atol=1e-12)


def test_standardize_computes_unmeasured_statistics_from_the_training_split(tmp_path):
    written = write_fake_dataset(tmp_path, "kmnist", {Split.TRAIN: 40, Split.TEST: 10})
    train_raw = written[Split.TRAIN][0].astype(np.float64) / 255.0
    mean, std = training_stats("kmnist", root=tmp_path)
    assert mean == pytest.approx(train_raw.mean(), rel=1e-12)
    assert std == pytest.approx(train_raw.std(), rel=1e-12)
    train = load("kmnist", root=tmp_path, dtype=torch.float64, normalize="standardize")
    assert train.images.mean().item() == pytest.approx(0.0, abs=1e-12)
    assert train.images.std(correction=0).item() == pytest.approx(1.0, rel=1e-12)
    # The test split is scaled with the training statistics, not its own.
    test = load("kmnist", "test", root=tmp_path, dtype=torch.float64, normalize="standardize")
    expected = (written[Split.TEST][0].astype(np.float64) / 255.0 - mean) / std
    np.testing.assert_allclose(test.images[:, 0].numpy(), expected, rtol=1e-12, atol=1e-12)


def test_flatten(fake):
    root, written = fake
    data = load("fashion-mnist", "test", root=root, flatten=True, normalize="raw")
    assert data.images.shape == (20, 784)
    np.testing.assert_array_equal(data.images.numpy(), written[Split.TEST][0].reshape(20, 784))


def test_raw_values_in_a_float_dtype(fake):
    root, written = fake
    data = load("fashion-mnist", root=root, normalize="raw", dtype=torch.float32)
    np.testing.assert_array_equal(data.images[:, 0].numpy(), written[Split.TRAIN][0])


def test_record_metadata_subset_and_to(fake):
    root, _ = fake
    data = load("fashion-mnist", "test", root=root)
    assert data.class_names == FASHION_MNIST_CLASSES and data.num_classes == 10
    assert data.class_names[9] == "Ankle boot"
    part = data.subset(torch.tensor([3, 1]))
    assert len(part) == 2 and part.index.tolist() == [3, 1]
    assert torch.equal(part.images, data.images[[3, 1]])
    assert part.to("cpu").device == torch.device("cpu")


def test_mixed_raw_and_gzip_files(tmp_path):
    written = write_fake_dataset(tmp_path, "mnist", {Split.TRAIN: 5}, compress=True)
    folder = tmp_path / "mnist"
    (folder / "train-labels-idx1-ubyte.gz").unlink()
    write_idx(folder / "train-labels-idx1-ubyte", written[Split.TRAIN][1])
    assert load("mnist", root=tmp_path).labels.tolist() == written[Split.TRAIN][1].tolist()


def _replace(folder, base, array):
    (folder / f"{base}.gz").unlink()
    write_idx(folder / base, array)
    return folder / base


@pytest.mark.parametrize(
    "base, array, message",
    [
        ("train-images-idx3-ubyte", np.zeros((4, 27, 28), np.uint8), r"\(N, 28, 28\)"),
        ("train-images-idx3-ubyte", np.zeros((4, 784), np.uint8), r"\(N, 28, 28\)"),
        ("train-images-idx3-ubyte", np.zeros((4, 28, 28), np.int16), "uint8 images"),
        ("train-labels-idx1-ubyte", np.zeros(3, np.uint8), "expected 4 labels"),
        ("train-labels-idx1-ubyte", np.full(4, 10, np.uint8), r"labels in \[0, 10\)"),
        ("train-labels-idx1-ubyte", np.zeros((4, 1), np.uint8), "vector of labels"),
    ],
    ids=["height", "flat", "dtype", "count", "range", "label-dims"],
)
def test_wrong_contents(tmp_path, base, array, message):
    write_fake_dataset(tmp_path, "fashion-mnist", {Split.TRAIN: 4})
    path = _replace(tmp_path / "fashion-mnist", base, array)
    with pytest.raises(CorruptDatasetError, match=message) as info:
        load("fashion-mnist", root=tmp_path)
    assert str(path) in str(info.value)


def test_corrupt_file_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    write_fake_dataset(tmp_path / "env", "fashion-mnist", {Split.TRAIN: 4})
    write_fake_dataset(tmp_path / "debian", "fashion-mnist", {Split.TRAIN: 5})
    monkeypatch.setenv("PYRO_LOCAL_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setattr("pyro_local.data.locate.DEBIAN_DATA_ROOT", tmp_path / "debian")
    path = tmp_path / "env" / "fashion-mnist" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(IDXFormatError, match="does not decompress"):
        load("fashion-mnist")


def test_bad_arguments(fake):
    root, _ = fake
    with pytest.raises(ValueError, match="name: expected one of 'fashion-mnist'"):
        load("cifar10", root=root)
    with pytest.raises(TypeError, match="name: expected a dataset name"):
        load(3, root=root)
    with pytest.raises(ValueError, match="split: expected 'train' or 'test', got 'val'"):
        load("fashion-mnist", "val", root=root)
    with pytest.raises(ValueError, match="normalize: expected one of"):
        load("fashion-mnist", root=root, normalize="zscore")
    with pytest.raises(TypeError, match="dtype: expected a floating dtype"):
        load("fashion-mnist", root=root, dtype=torch.int32)
    with pytest.raises(TypeError, match="dtype: expected a torch.dtype"):
        load("fashion-mnist", root=root, dtype=np.float32)
    with pytest.raises(TypeError, match="flatten: expected a bool"):
        load("fashion-mnist", root=root, flatten="yes")


def test_another_mnist_format_dataset_by_its_info(tmp_path):
    info = DatasetInfo("letters", ("a", "b", "c"))
    written = write_fake_dataset(tmp_path, "letters", {Split.TRAIN: 9}, num_classes=3)
    data = load(info, root=tmp_path, normalize="raw")
    assert data.class_names == ("a", "b", "c") and data.num_classes == 3
    np.testing.assert_array_equal(data.labels.numpy(), written[Split.TRAIN][1])
    standard = load(info, root=tmp_path, dtype=torch.float64, normalize="standardize")
    assert standard.images.mean().item() == pytest.approx(0.0, abs=1e-12)
