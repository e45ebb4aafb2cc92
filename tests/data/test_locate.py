"""Where the loader looks: argument, then environment variable, then Debian; and the
error that lists every place searched when the data is in none."""

import pytest

from pyro_local.data import DatasetNotFoundError, load
from pyro_local.data.catalog import Split
from pyro_local.data.locate import ENV_VAR, find_idx_files, search_roots

from .fakes import write_fake_dataset


def _roots(tmp_path, monkeypatch, sizes):
    # Three data roots holding fashion-mnist with different training-set sizes, so the
    # size of what loads tells which root won.
    paths = {}
    for where, n in sizes.items():
        paths[where] = tmp_path / where
        if n:
            write_fake_dataset(paths[where], "fashion-mnist", {Split.TRAIN: n})
        else:
            paths[where].mkdir()
    monkeypatch.setattr("pyro_local.data.locate.DEBIAN_DATA_ROOT", paths["debian"])
    monkeypatch.setenv(ENV_VAR, str(paths["env"]))
    return paths


def test_argument_beats_environment_beats_debian(tmp_path, monkeypatch):
    paths = _roots(tmp_path, monkeypatch, {"arg": 3, "env": 4, "debian": 5})
    assert len(load("fashion-mnist", root=paths["arg"])) == 3
    assert len(load("fashion-mnist", root=str(paths["arg"]))) == 3
    assert len(load("fashion-mnist")) == 4
    monkeypatch.delenv(ENV_VAR)
    assert len(load("fashion-mnist")) == 5


def test_empty_environment_variable_counts_as_unset(tmp_path, monkeypatch):
    _roots(tmp_path, monkeypatch, {"env": 4, "debian": 5})
    monkeypatch.setenv(ENV_VAR, "")
    assert len(load("fashion-mnist")) == 5
    assert [source for _, source in search_roots()] == ["Debian's default location"]


def test_environment_falls_back_to_debian(tmp_path, monkeypatch):
    paths = _roots(tmp_path, monkeypatch, {"env": 0, "debian": 5})
    assert len(load("fashion-mnist")) == 5
    assert search_roots() == [
        (paths["env"], f"the environment variable {ENV_VAR}"),
        (paths["debian"], "Debian's default location"),
    ]


def test_argument_does_not_fall_back(tmp_path, monkeypatch):
    paths = _roots(tmp_path, monkeypatch, {"arg": 0, "env": 4, "debian": 5})
    with pytest.raises(DatasetNotFoundError) as info:
        load("fashion-mnist", root=paths["arg"])
    assert [p.folder for p in info.value.searched] == [paths["arg"] / "fashion-mnist"]


def test_missing_everywhere_lists_each_place_and_how_to_get_the_data(tmp_path, monkeypatch):
    paths = _roots(tmp_path, monkeypatch, {"env": 0, "debian": 0})
    with pytest.raises(DatasetNotFoundError) as info:
        load("fashion-mnist", "test")
    err = info.value
    assert isinstance(err, FileNotFoundError)
    message = str(err)
    env_folder, debian_folder = paths["env"] / "fashion-mnist", paths["debian"] / "fashion-mnist"
    assert [p.folder for p in err.searched] == [env_folder, debian_folder]
    assert message.index(str(env_folder)) < message.index(str(debian_folder))
    assert ENV_VAR in message and "Debian's default location" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "fashion-mnist-small" in message
    assert "test split" in message


def test_names_the_missing_file(tmp_path):
    write_fake_dataset(tmp_path, "fashion-mnist", {Split.TRAIN: 3})
    (tmp_path / "fashion-mnist" / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError) as info:
        load("fashion-mnist", root=tmp_path)
    (place,) = info.value.searched
    assert place.missing == ("train-labels-idx1-ubyte",)
    assert "missing train-labels-idx1-ubyte[.gz]" in str(info.value)
    # The test split is absent too, and its error names both of its files.
    with pytest.raises(DatasetNotFoundError) as info:
        load("fashion-mnist", "test", root=tmp_path)
    assert info.value.searched[0].missing == ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def test_hints_when_files_sit_directly_in_the_root(tmp_path):
    write_fake_dataset(tmp_path, "fashion-mnist", {Split.TRAIN: 3})
    folder = tmp_path / "fashion-mnist"
    with pytest.raises(DatasetNotFoundError, match="one subfolder per dataset"):
        load("fashion-mnist", root=folder)


def test_datasets_without_a_debian_package_do_not_suggest_one(tmp_path, no_debian):
    with pytest.raises(DatasetNotFoundError) as info:
        load("kmnist", root=tmp_path)
    assert "apt-get" not in str(info.value)
    assert f"{ENV_VAR}=<dir>" in str(info.value)


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_finds_raw_and_gzip_files(tmp_path, compress):
    write_fake_dataset(tmp_path, "mnist", compress=compress)
    images, labels = find_idx_files("mnist", "test", root=tmp_path)
    assert images.name == "t10k-images-idx3-ubyte" + (".gz" if compress else "")
    assert labels.name == "t10k-labels-idx1-ubyte" + (".gz" if compress else "")


def test_one_subfolder_per_dataset(tmp_path):
    write_fake_dataset(tmp_path, "mnist", {Split.TRAIN: 3})
    write_fake_dataset(tmp_path, "kmnist", {Split.TRAIN: 4})
    assert len(load("mnist", root=tmp_path)) == 3
    assert len(load("kmnist", root=tmp_path)) == 4


def test_root_must_be_a_path():
    with pytest.raises(TypeError, match="root: expected a path"):
        load("mnist", root=3)
