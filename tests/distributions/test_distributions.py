"""Generic checks run on every record of :data:`fixtures.FIXTURES`.

log_prob against an independent reference, sample moments within Monte Carlo error,
``expand`` and batch shapes, support checks, finite-difference gradients of
``log_prob``, and invalid arguments. The same tests run on CUDA when one is present.
"""

import pytest
import torch

from .fixtures import FIXTURES

CASES = [(f, i) for f in FIXTURES for i in range(len(f.params))]
IDS = [f"{f.name}-{i}" for f, i in CASES]
DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda", marks=pytest.mark.cuda),
]


def _sample(d, n):
    return d.rsample((n,)) if d.has_rsample else d.sample((n,))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fixture,i", CASES, ids=IDS)
def test_log_prob_matches_reference(fixture, i, device):
    d = fixture.make(i, device)
    x = d.sample((5,))
    actual = d.log_prob(x).cpu()
    expected = fixture.ref_log_prob(fixture.params[i], x.cpu())
    assert actual.shape == (5,) + d.batch_shape
    torch.testing.assert_close(actual, expected.to(actual.dtype), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fixture,i", CASES, ids=IDS)
def test_sample_moments(fixture, i, device):
    d = fixture.make(i, device)
    n = fixture.num_samples
    x = _sample(d, n).detach()
    assert x.shape == (n,) + d.batch_shape + d.event_shape
    mean, var = d.mean.detach(), d.variance.detach()
    # Mean: standard error sqrt(var / n). Variance: the standard error of the sample
    # variance is sqrt((m4 - var^2) / n), estimated from the sample's fourth moment.
    se_mean = (var / n).sqrt()
    m4 = ((x - x.mean(0)) ** 4).mean(0)
    se_var = ((m4 - x.var(0) ** 2).clamp(min=0) / n).sqrt()
    tol = 5.0  # five standard errors: a false alarm once in ~1.7 million per entry
    assert ((x.mean(0) - mean).abs() <= tol * se_mean + 1e-12).all()
    assert ((x.var(0) - var).abs() <= tol * se_var + 1e-12).all()


@pytest.mark.parametrize("fixture,i", CASES, ids=IDS)
def test_expand_and_batch_shapes(fixture, i):
    d = fixture.make(i)
    new_batch = (3,) + d.batch_shape
    e = d.expand(new_batch)
    assert type(e) is type(d)
    assert e.batch_shape == new_batch and e.event_shape == d.event_shape
    x = e.sample()
    assert x.shape == new_batch + d.event_shape
    assert e.log_prob(x).shape == new_batch
    # expand must not change the distribution: log_prob of the original's sample agrees.
    y = d.sample()
    torch.testing.assert_close(e.log_prob(y), d.log_prob(y).expand(new_batch))
    assert d.sample((2, 4)).shape == (2, 4) + d.batch_shape + d.event_shape


@pytest.mark.parametrize("fixture,i", CASES, ids=IDS)
def test_samples_in_support(fixture, i):
    d = fixture.make(i)
    x = d.sample((100,))
    assert d.support.check(x).all()
    if fixture.outside_support is not None:
        with pytest.raises(ValueError):
            d.log_prob(fixture.outside_support(d))


@pytest.mark.parametrize("fixture,i", CASES, ids=IDS)
def test_log_prob_gradient_matches_finite_differences(fixture, i):
    if not fixture.grad_params:
        pytest.skip(f"{fixture.name} declares no differentiable parameters")
    d0 = fixture.make(i)
    x = d0.sample((3,)).detach()
    names = fixture.grad_params
    base = {k: v.clone() for k, v in fixture.params[i].items()}

    def f(*values):
        params = dict(base, **dict(zip(names, values, strict=True)))
        return fixture.dist_cls(**params, validate_args=False).log_prob(x)

    inputs = tuple(base[k].clone().requires_grad_() for k in names)
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    "fixture,params,message",
    [(f, p, m) for f in FIXTURES for p, m in f.invalid],
    ids=[f"{f.name}-{m}-{j}" for f in FIXTURES for j, (_, m) in enumerate(f.invalid)],
)
def test_invalid_arguments_raise(fixture, params, message):
    with pytest.raises(ValueError, match=message):
        fixture.dist_cls(**params, validate_args=True)
