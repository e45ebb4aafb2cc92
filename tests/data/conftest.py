"""Fixtures for the data tests: a search path that ignores the caller's environment."""

import pytest

from pyro_local.data import locate


@pytest.fixture(autouse=True)
def _no_data_dir_from_environment(monkeypatch):
    # The search order must not depend on the shell the tests run from.
    monkeypatch.delenv(locate.ENV_VAR, raising=False)


@pytest.fixture
def no_debian(tmp_path, monkeypatch):
    """Points Debian's default location at an empty folder."""
    empty = tmp_path / "no-debian"
    empty.mkdir()
    monkeypatch.setattr(locate, "DEBIAN_DATA_ROOT", empty)
    return empty
