"""Static, dynamic and threshold binarization.

Monte Carlo checks compare a sum of independent Bernoulli draws with its expectation
and allow 5 standard errors: under correct code a false alarm has probability 6e-7
per check (the seeds are fixed, so each run gives the same verdict), while a bias of
a few standard errors, e.g. drawing with 1 - p or p**2, is caught.
"""

import pytest
import torch

from pyro_local.data import binarize_dynamic, binarize_static, load
from pyro_local.data.binarize import binarize_threshold

Z = 5.0


@pytest.fixture(scope="module")
def images():
    return load("fashion-mnist-small", "test").images  # (1000, 1, 28, 28) in [0, 1]


def _z(draws, probs, repeats=1):
    # (sum of Bernoulli draws - expected sum) / its standard deviation.
    expected = repeats * probs.double().sum()
    sd = (repeats * (probs.double() * (1 - probs.double())).sum()).sqrt()
    return ((draws.double().sum() - expected) / sd).item()


def test_static_is_reproducible_and_binary(images, device):
    x = images.to(device)
    a, b = binarize_static(x, seed=3), binarize_static(x, seed=3)
    assert torch.equal(a, b)
    assert a.shape == x.shape and a.dtype == x.dtype and a.device == x.device
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(a, binarize_static(x, seed=4))


def test_static_draw_does_not_depend_on_the_device_or_input_encoding(images, device):
    reference = binarize_static(images, seed=0)
    assert torch.equal(binarize_static(images.to(device), seed=0).cpu(), reference)
    # The same intensities in another encoding give the same draw: raw uint8 is read
    # as x / 255 in float64, which is what a float64 load holds.
    raw = load("fashion-mnist-small", "test", normalize="raw").images
    exact = load("fashion-mnist-small", "test", dtype=torch.float64).images
    assert torch.equal(binarize_static(raw, seed=0).double(), binarize_static(exact, seed=0))


def test_static_mean_matches_intensities(images):
    assert abs(_z(binarize_static(images, seed=0), images)) < Z


def test_dynamic_differs_between_calls(images, device):
    x = images.to(device)
    assert not torch.equal(binarize_dynamic(x), binarize_dynamic(x))
    g1 = torch.Generator(device=device).manual_seed(7)
    g2 = torch.Generator(device=device).manual_seed(7)
    first = binarize_dynamic(x, generator=g1)
    assert torch.equal(first, binarize_dynamic(x, generator=g2))
    assert not torch.equal(first, binarize_dynamic(x, generator=g1))
    assert first.device == x.device


def test_dynamic_mean_matches_each_intensity(device):
    # 101 intensities, 4000 fresh draws of each: every per-intensity mean within 5
    # standard errors (family-wise false alarm about 101 * 6e-7).
    p = torch.linspace(0, 1, 101, device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    draws = torch.stack([binarize_dynamic(p, generator=generator) for _ in range(4000)])
    mean = draws.double().mean(0).cpu()
    p = p.double().cpu()
    se = (p * (1 - p) / 4000).sqrt()
    inner = (p > 0) & (p < 1)
    assert torch.all((mean[inner] - p[inner]).abs() < Z * se[inner])
    assert mean[0] == 0 and mean[-1] == 1


def test_dynamic_mean_over_images(images):
    draws = torch.stack([binarize_dynamic(images) for _ in range(5)])
    assert abs(_z(draws, images, repeats=5)) < Z


def test_threshold():
    raw = torch.arange(256, dtype=torch.uint8)
    assert torch.equal(binarize_threshold(raw), (raw >= 128).float())
    x = torch.tensor([0.0, 0.25, 0.5, 0.5001, 1.0], dtype=torch.float64)
    out = binarize_threshold(x, threshold=0.5)
    assert out.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0] and out.dtype == torch.float64
    assert binarize_threshold(x, threshold=0.2).tolist() == [0.0, 1.0, 1.0, 1.0, 1.0]


def test_dtype_argument(images):
    out = binarize_static(images, seed=0, dtype=torch.float64)
    assert out.dtype == torch.float64
    assert torch.equal(out.float(), binarize_static(images, seed=0))
    assert binarize_dynamic(images, dtype=torch.float64).dtype == torch.float64
    assert binarize_static(torch.full((3,), 128, dtype=torch.uint8), 0).dtype == torch.float32


def test_bad_input():
    standardised = torch.tensor([-0.8, 0.0, 2.1])
    for f in (lambda x: binarize_static(x, 0), binarize_dynamic, binarize_threshold):
        with pytest.raises(ValueError, match=r"images: expected intensities in \[0, 1\]"):
            f(standardised)
        with pytest.raises(TypeError, match="images: expected floats"):
            f(torch.ones(3, dtype=torch.int32))
        with pytest.raises(TypeError, match="images: expected a torch.Tensor"):
            f([0.5])
    with pytest.raises(TypeError, match="seed: expected an int"):
        binarize_static(torch.ones(2) / 2, seed=0.5)
    with pytest.raises(ValueError, match=r"threshold: expected a float in \[0, 1\]"):
        binarize_threshold(torch.ones(2) / 2, threshold=1.5)
    with pytest.raises(TypeError, match="dtype: expected a floating"):
        binarize_static(torch.ones(2) / 2, seed=0, dtype=torch.int64)
