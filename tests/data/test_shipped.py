"""The Fashion-MNIST subset that ships inside pyro-local, and the script that makes it."""

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from pyro_local.data import CorruptDatasetError, DatasetNotFoundError, load
from pyro_local.data import shipped as shipped_module
from pyro_local.data.catalog import FASHION_MNIST_CLASSES, Split
from pyro_local.data.idx import read_idx
from pyro_local.data.make_shipped import PER_CLASS, SEED, build_subset, main, select_stratified

from .fakes import DEBIAN_FASHION_MNIST, needs_debian_files

ROOT = Path(__file__).resolve().parents[2]
NPZ = shipped_module.SHIPPED_DIR / "fashion-mnist-small.npz"
SOURCE_SIZES = {Split.TRAIN: 60000, Split.TEST: 10000}


def test_loads_with_no_installed_data(tmp_path, monkeypatch, no_debian):
    # Nothing to find anywhere: the env var points at an empty folder, and so does the
    # (patched) Debian location.
    monkeypatch.setenv("PYRO_LOCAL_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetNotFoundError):
        load("fashion-mnist")
    for split, per_class in PER_CLASS.items():
        data = load("fashion-mnist-small", split, normalize="raw")
        assert data.images.shape == (10 * per_class, 1, 28, 28)
        assert data.images.dtype == torch.uint8 and data.labels.dtype == torch.int64
        assert data.class_names == FASHION_MNIST_CLASSES
        # Exact stratification: every class exactly per_class times.
        assert data.labels.bincount(minlength=10).tolist() == [per_class] * 10
        index = data.index
        assert index.dtype == torch.int64
        assert torch.all(index[1:] > index[:-1]), "rows are stored sorted and distinct"
        assert 0 <= index.min() and index.max() < SOURCE_SIZES[split]


def test_file_is_small_and_carries_its_provenance():
    assert NPZ.stat().st_size < 4_000_000
    with np.load(NPZ, allow_pickle=False) as npz:
        assert int(npz["seed"]) == SEED
        assert int(npz["per_class_train"]) == PER_CLASS[Split.TRAIN]
        assert int(npz["per_class_test"]) == PER_CLASS[Split.TEST]
        notice = str(npz["notice"])
    assert "Zalando SE" in notice and "Permission is hereby granted" in notice


def test_images_look_like_fashion_mnist():
    # Real images, not noise: the subset's pixel mean is that of the full training set
    # up to sampling error. Images are far from independent pixels, so the standard
    # error is taken over per-image means (5000 of them); 5 standard errors.
    data = load("fashion-mnist-small", "train", dtype=torch.float64)
    per_image = data.images.mean(dim=(1, 2, 3))
    se = per_image.std() / len(per_image) ** 0.5
    assert abs(per_image.mean().item() - 0.2860406) < 5 * se.item()
    # Trousers (1) are narrower than pullovers (2): far fewer bright pixels.
    ink = (data.images > 0.5).double().mean(dim=(1, 2, 3))
    assert ink[data.labels == 1].mean() < 0.7 * ink[data.labels == 2].mean()


def test_standardises_with_the_full_set_statistics():
    unit = load("fashion-mnist-small", "test", dtype=torch.float64)
    standard = load("fashion-mnist-small", "test", dtype=torch.float64, normalize="standardize")
    expected = (unit.images - 0.2860406) / 0.3530242
    assert (standard.images - expected).abs().max() < 1e-12


def test_selection_rule_is_stratified_seeded_and_deterministic():
    labels = np.repeat(np.arange(3), [50, 60, 70])[np.random.default_rng(1).permutation(180)]
    rows = select_stratified(labels, 20, seed=0, split=Split.TRAIN)
    assert np.bincount(labels[rows]).tolist() == [20, 20, 20]
    assert np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(rows, select_stratified(labels, 20, 0, Split.TRAIN))
    assert not np.array_equal(rows, select_stratified(labels, 20, 1, Split.TRAIN))
    assert not np.array_equal(rows, select_stratified(labels, 20, 0, Split.TEST))
    with pytest.raises(ValueError, match="per_class: expected at most 50"):
        select_stratified(labels, 55, 0, Split.TRAIN)


def test_missing_shipped_file(tmp_path, monkeypatch):
    monkeypatch.setattr(shipped_module, "SHIPPED_DIR", tmp_path)
    with pytest.raises(DatasetNotFoundError, match="make_shipped") as info:
        load("fashion-mnist-small")
    assert str(tmp_path / "fashion-mnist-small.npz") in str(info.value)


@pytest.mark.parametrize("damage", ["truncated", "wrong-shape"])
def test_damaged_shipped_file(tmp_path, monkeypatch, damage):
    monkeypatch.setattr(shipped_module, "SHIPPED_DIR", tmp_path)
    path = tmp_path / "fashion-mnist-small.npz"
    if damage == "truncated":
        path.write_bytes(NPZ.read_bytes()[:10000])
    else:
        arrays = dict(np.load(NPZ, allow_pickle=False))
        arrays["train_images"] = arrays["train_images"][:, :27]
        np.savez_compressed(path, **arrays)
    with pytest.raises(CorruptDatasetError, match="fashion-mnist-small.npz"):
        load("fashion-mnist-small")


@needs_debian_files
def test_shipped_rows_are_the_real_rows():
    for split, (image_file, label_file) in {
        Split.TRAIN: ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
        Split.TEST: ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
    }.items():
        full_images = read_idx(DEBIAN_FASHION_MNIST / image_file)
        full_labels = read_idx(DEBIAN_FASHION_MNIST / label_file)
        small = load("fashion-mnist-small", split, normalize="raw")
        rows = small.index.numpy()
        np.testing.assert_array_equal(small.images[:, 0].numpy(), full_images[rows])
        np.testing.assert_array_equal(small.labels.numpy(), full_labels[rows])


@needs_debian_files
def test_script_regenerates_the_shipped_arrays(tmp_path, capsys):
    out = tmp_path / "regenerated.npz"
    assert main(["--source", str(DEBIAN_FASHION_MNIST), "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    with np.load(NPZ, allow_pickle=False) as shipped, np.load(out, allow_pickle=False) as new:
        assert set(shipped.files) == set(new.files)
        for key in shipped.files:
            np.testing.assert_array_equal(shipped[key], new[key], err_msg=key)


def test_script_names_missing_source_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        build_subset(tmp_path)


def _can_build_wheels():
    # bdist_wheel comes with setuptools >= 70.1, or with the wheel package before that.
    import setuptools

    major, minor = (int(p) for p in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


@pytest.mark.slow
@pytest.mark.skipif(
    not _can_build_wheels(), reason="building a wheel needs setuptools >= 70.1 or the wheel package"
)
def test_wheel_contains_the_shipped_subset(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path)],
        check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("pyro_local-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read("pyro_local/data/shipped/fashion-mnist-small.npz") == NPZ.read_bytes()
        assert "pyro_local/data/make_shipped.py" in zf.namelist()
