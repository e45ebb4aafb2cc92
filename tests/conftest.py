"""Test harness: fresh seeds and Pyro state for every test, device and markers.

Every test starts from the same RNG state and an empty Pyro parameter store, so a
test's outcome never depends on which tests ran before it. The device tests use is
taken from ``PYRO_LOCAL_TEST_DEVICE`` (default ``cpu``); tests marked ``cuda`` are
skipped where no CUDA device is present.
"""

import os
import random

import numpy as np
import pyro
import pytest
import torch


def pytest_runtest_setup(item):
    if item.get_closest_marker("cuda") and not torch.cuda.is_available():
        pytest.skip("needs a CUDA device; none is present")


@pytest.fixture(autouse=True)
def _reset_state():
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002 (code under test may draw from numpy's global RNG)
    pyro.enable_validation(True)
    # Two cores on CI: keep torch from oversubscribing them.
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    yield
    pyro.clear_param_store()


@pytest.fixture
def device():
    """The device tests run on: ``PYRO_LOCAL_TEST_DEVICE`` or ``cpu``."""
    return torch.device(os.environ.get("PYRO_LOCAL_TEST_DEVICE", "cpu"))
