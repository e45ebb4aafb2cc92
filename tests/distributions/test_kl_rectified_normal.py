"""Closed-form KL between rectified Gaussians against numerical integration.

The reference splits the divergence as the definition does, atom plus slab, with the
atom from scipy's ``norm.logcdf`` and the slab from adaptive quadrature of the
log-ratio of the two normal densities under ``q``'s normal truncated to ``z > 0``. The
truncated density is normalised in log space, so the reference keeps its relative
accuracy where ``P(z > 0)`` is ~1e-350 and would underflow.
"""

import itertools
import math

import pyro
import pytest
import torch
from pyro.infer import TraceMeanField_ELBO
from scipy import integrate, stats
from torch.distributions import kl_divergence

import pyro_local.distributions  # noqa: F401  (registers the KLs)
from pyro_local.distributions import RectifiedNormal
from pyro_local.distributions.kl_rectified_normal import kl_rectified_normal

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _normal_logpdf(z, loc, scale):
    return -0.5 * ((z - loc) / scale) ** 2 - math.log(scale) - _LOG_SQRT_2PI


def reference_kl(loc_q, scale_q, loc_p, scale_p):
    """KL(q || p) by quadrature, with an error estimate checked on the way."""
    a_q, a_p = loc_q / scale_q, loc_p / scale_p
    log_q0, log_p0 = stats.norm.logcdf(-a_q), stats.norm.logcdf(-a_p)
    atom = math.exp(log_q0) * (log_q0 - log_p0)
    log_mass = stats.norm.logcdf(a_q)

    def truncated(z):  # q's density given z > 0
        return math.exp(_normal_logpdf(z, loc_q, scale_q) - log_mass)

    def log_ratio(z):
        return _normal_logpdf(z, loc_q, scale_q) - _normal_logpdf(z, loc_p, scale_p)

    # Where the truncated normal's mass lies: around loc_q, or, far in the left tail,
    # within ~40 / |a_q| scales of zero (it is then nearly exponential, rate |a_q|).
    t = max(-a_q, 1.0)
    lo = max(0.0, loc_q - 12 * scale_q)
    hi = max(loc_q, 0.0) + scale_q * min(12.0, 40.0 / t)
    points = [x for x in (loc_q, scale_q / t) if lo < x < hi]
    kw = dict(points=points or None, epsabs=0, epsrel=1e-12, limit=500)
    norm, _ = integrate.quad(truncated, lo, hi, **kw)
    assert abs(norm - 1) < 1e-10  # the interval holds all the mass
    slab, err = integrate.quad(lambda z: truncated(z) * log_ratio(z), lo, hi, **kw)
    scale_of_terms, _ = integrate.quad(lambda z: truncated(z) * abs(log_ratio(z)), lo, hi, **kw)
    assert err < 1e-10 * scale_of_terms + 1e-300
    return atom + math.exp(log_mass) * slab, 1e-10 * scale_of_terms * math.exp(log_mass)


def _rn(loc, scale, **kw):
    dtype = kw.pop("dtype", torch.float64)
    return RectifiedNormal(torch.as_tensor(loc, dtype=dtype), torch.as_tensor(scale, dtype=dtype),
                           **kw)


# loc / scale of q and p from -40 to 40, scale ratios over six decades.
A_Q = [-40.0, -8.0, -1.5, 0.0, 0.7, 4.0, 40.0]
A_P = [-40.0, -3.0, 0.0, 2.5, 40.0]
RATIOS = [1e-3, 0.3, 1.0, 4.0, 1e3]


@pytest.mark.parametrize("a_q", A_Q)
def test_kl_matches_numerical_integration(a_q):
    rows = list(itertools.product(A_P, RATIOS))
    scale_q = torch.tensor([r for _, r in rows], dtype=torch.float64)
    loc_q = a_q * scale_q
    loc_p = torch.tensor([a for a, _ in rows], dtype=torch.float64) * 1.7
    scale_p = torch.full_like(loc_p, 1.7)
    actual = kl_divergence(_rn(loc_q, scale_q), _rn(loc_p, scale_p))
    for i, (a_p, ratio) in enumerate(rows):
        expected, quad_tol = reference_kl(loc_q[i].item(), scale_q[i].item(),
                                          loc_p[i].item(), scale_p[i].item())
        # Relative agreement to 1e-9; the absolute slack is the quadrature's own
        # tolerance or round-off of the O(1) terms that cancel when KL is tiny.
        tol = 1e-9 * abs(expected) + quad_tol + 1e-14
        assert abs(actual[i].item() - expected) <= tol, (a_q, a_p, ratio, actual[i], expected)


def test_kl_is_nonnegative_and_zero_at_equality():
    g = torch.Generator().manual_seed(0)
    n = 20000
    loc = torch.randn(n, generator=g, dtype=torch.float64) * 20
    scale = torch.exp(torch.randn(n, generator=g, dtype=torch.float64) * 3)
    q = _rn(loc, scale)
    assert (kl_divergence(q, q) == 0).all()
    # Unrelated pairs, and pairs a relative 1e-6 apart (KL ~ 1e-13): nonnegative up
    # to round-off of the O(1) terms, here bounded by 1e-14 (about 50 units).
    for step in [1.0, 1e-6]:
        loc2 = loc + step * scale * torch.randn(n, generator=g, dtype=torch.float64)
        scale2 = scale * torch.exp(step * torch.randn(n, generator=g, dtype=torch.float64))
        assert kl_divergence(q, _rn(loc2, scale2)).min() >= -1e-14


def test_kl_reduces_to_the_normal_kl_without_an_atom():
    loc_q, scale_q, loc_p, scale_p = 30.0, 0.7, 25.0, 1.3  # both P(z = 0) < 1e-190
    expected = kl_divergence(torch.distributions.Normal(loc_q, scale_q),
                             torch.distributions.Normal(loc_p, scale_p)).double()
    actual = kl_divergence(_rn(loc_q, scale_q), _rn(loc_p, scale_p))
    torch.testing.assert_close(actual, expected, rtol=1e-6, atol=0)  # float32 Normal


EXTREME_A = [-1e4, -300.0, -40.0, -8.0, -2.5, -1.0, 0.0, 1.0, 2.5, 8.0, 40.0, 300.0, 1e4]


def _extreme_grid(dtype):
    rows = list(itertools.product(EXTREME_A, EXTREME_A, [1e-3, 0.1, 1.0, 10.0, 1e3]))
    a_q, a_p, ratio = (torch.tensor(col, dtype=torch.float64) for col in zip(*rows, strict=True))
    params = (a_q * ratio, ratio, a_p, torch.ones_like(ratio))  # scale_p = 1
    return [x.to(dtype).requires_grad_() for x in params]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kl_and_gradients_are_finite_far_into_both_tails(dtype):
    params = _extreme_grid(dtype)
    kl = kl_divergence(_rn(*params[:2], dtype=dtype), _rn(*params[2:], dtype=dtype))
    assert torch.isfinite(kl).all() and kl.min() >= 0
    grads = torch.autograd.grad(kl.sum(), params)
    assert all(torch.isfinite(g).all() for g in grads)


def test_float32_kl_keeps_float32_accuracy():
    # At the same (float32) inputs, float32 agrees with float64 to a few hundred units
    # of float32 round-off wherever the KL is not itself tiny.
    p32 = [x.detach() for x in _extreme_grid(torch.float32)]
    kl32 = kl_divergence(_rn(*p32[:2], dtype=torch.float32), _rn(*p32[2:], dtype=torch.float32))
    p64 = [x.double() for x in p32]
    kl64 = kl_divergence(_rn(*p64[:2]), _rn(*p64[2:]))
    big = kl64 > 1e-3
    rel = ((kl32.double() - kl64) / kl64)[big].abs()
    assert rel.max() < 300 * torch.finfo(torch.float32).eps


GRAD_POINTS = [
    (0.3, 1.0, -0.5, 2.0),
    (-1.0, 0.4, 1.0, 0.8),
    (-12.0, 1.0, -3.0, 0.5),  # q nearly all atom, on the continued-fraction branch
    (-2.2, 1.1, 0.1, 1e-2),
    (6.0, 0.5, -40.0, 1.0),  # q nearly all slab, p nearly all atom
    (40.0, 1.0, 38.0, 1.0),
    (-2.5e-3, 1e-3, 0.2, 3.0),
]


def _kl_of_params(loc_q, scale_q, loc_p, scale_p):
    return kl_rectified_normal(_rn(loc_q, scale_q), _rn(loc_p, scale_p))


@pytest.mark.parametrize("point", GRAD_POINTS, ids=str)
def test_kl_gradient_matches_finite_differences(point):
    inputs = tuple(torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in point)
    assert torch.autograd.gradcheck(_kl_of_params, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("point", [GRAD_POINTS[1], GRAD_POINTS[2]], ids=str)
def test_kl_second_derivatives_match_finite_differences(point):
    # One point per branch of the truncated moments (direct formula, continued
    # fraction); second derivatives serve Laplace approximations and natural gradients.
    inputs = tuple(torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in point)
    assert torch.autograd.gradgradcheck(_kl_of_params, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("point", GRAD_POINTS[:5], ids=str)
def test_kl_gradient_matches_finite_differences_of_the_quadrature(point):
    inputs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in point]
    kl = kl_divergence(_rn(*inputs[:2]), _rn(*inputs[2:]))
    grads = torch.autograd.grad(kl, inputs)
    for j, g in enumerate(grads):
        h = 1e-4 * point[j] if j % 2 else 1e-4 * point[j + 1]  # a step scaled to the scale
        up, down = list(point), list(point)
        up[j] += h
        down[j] -= h
        fd = (reference_kl(*up)[0] - reference_kl(*down)[0]) / (2 * h)
        # Central differences: truncation ~ h^2 |f'''| plus quadrature noise ~ 1e-12/h.
        assert g.item() == pytest.approx(fd, rel=1e-5, abs=1e-7), (j, g.item(), fd)


def test_single_sample_pathwise_gradient_is_biased_but_closed_form_is_not():
    # The estimator log q(z) - log p(z), z = relu(loc_q + scale_q eps), jumps at
    # eps* = -loc_q / scale_q, where z switches from the atom to the slab; the jump
    # point moves with (loc_q, scale_q), and autograd misses the resulting boundary
    # term  phi(eps*) [f(atom) - f(slab at 0+)] d eps* / d theta.
    loc_q, scale_q, loc_p, scale_p = 0.3, 1.0, -0.5, 2.0
    n = 200_000
    loc = torch.full((n,), loc_q, dtype=torch.float64, requires_grad=True)
    scale = torch.full((n,), scale_q, dtype=torch.float64, requires_grad=True)
    q, p = RectifiedNormal(loc, scale), _rn(loc_p, scale_p)
    z = q.rsample()
    estimate = q.log_prob(z) - p.log_prob(z)
    estimate.sum().backward()  # per-draw gradients land in per-draw entries

    theta = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (loc_q, scale_q)]
    closed_form = kl_divergence(_rn(*theta), p)
    true_grad = torch.autograd.grad(closed_form, theta)

    eps_star = -loc_q / scale_q
    jump = (stats.norm.logcdf(eps_star) - stats.norm.logcdf(-loc_p / scale_p)) - (
        stats.norm.logpdf(0, loc_q, scale_q) - stats.norm.logpdf(0, loc_p, scale_p)
    )
    d_eps_star = [-1 / scale_q, loc_q / scale_q**2]
    for j, mc in enumerate([loc.grad, scale.grad]):
        mean, se = mc.mean().item(), mc.std().item() / math.sqrt(n)
        # Biased: the Monte Carlo mean lies more than 50 standard errors away (here
        # ~290 for loc, where even the sign is wrong, and ~100 for scale).
        assert abs(mean - true_grad[j].item()) > 50 * se
        # ... by exactly the boundary term: adding it back agrees within 4 standard
        # errors (a false alarm about once in 16000 runs).
        boundary = stats.norm.pdf(eps_star) * jump * d_eps_star[j]
        assert abs(mean + boundary - true_grad[j].item()) < 4 * se
    # The estimate of the value itself is unbiased.
    value_se = estimate.std().item() / math.sqrt(n)
    assert abs(estimate.mean().item() - closed_form.item()) < 4 * value_se
    # And the closed-form gradient is the derivative of the exact KL.
    for j, h in enumerate([1e-4, 1e-4]):
        args_up = [loc_q + h * (j == 0), scale_q + h * (j == 1), loc_p, scale_p]
        args_down = [loc_q - h * (j == 0), scale_q - h * (j == 1), loc_p, scale_p]
        fd = (reference_kl(*args_up)[0] - reference_kl(*args_down)[0]) / (2 * h)
        assert true_grad[j].item() == pytest.approx(fd, rel=1e-6)


def test_batch_shapes_broadcast():
    q = _rn(torch.linspace(-2, 2, 3).unsqueeze(-1), 1.5)
    p = _rn(torch.linspace(-1, 3, 4), torch.linspace(0.5, 2, 4))
    kl = kl_divergence(q, p)
    assert kl.shape == (3, 4)
    for i, j in itertools.product(range(3), range(4)):
        single = kl_divergence(_rn(q.loc[i, 0], q.scale[i, 0]), _rn(p.loc[j], p.scale[j]))
        torch.testing.assert_close(kl[i, j], single)


def test_pyro_wrappers_dispatch_to_the_closed_form():
    # Importing pyro_local.distributions registers the closed form with torch.
    q = _rn(torch.tensor([[0.3, -1.0, 2.0]]), torch.tensor([1.0, 0.5, 2.0]))
    p = _rn(torch.zeros(3), torch.ones(3))
    elementwise = kl_rectified_normal(q, p)
    torch.testing.assert_close(kl_divergence(q.to_event(1), p.to_event(1)),
                               elementwise.sum(-1))
    torch.testing.assert_close(kl_divergence(q.expand((4, 3)), p), elementwise.expand(4, 3))
    mask = torch.tensor([True, False, True])
    torch.testing.assert_close(kl_divergence(q.mask(mask), p.mask(mask)),
                               elementwise * mask)


def test_trace_mean_field_elbo_uses_the_closed_form():
    prior_loc, prior_scale = torch.tensor([0.5, -1.0, 0.0]), torch.tensor([1.0, 2.0, 0.3])

    def model():
        pyro.sample("z", RectifiedNormal(prior_loc, prior_scale).to_event(1))

    def guide():
        loc = pyro.param("loc", torch.tensor([0.2, 0.1, -0.4]))
        scale = pyro.param("scale", torch.tensor([0.8, 1.1, 0.2]),
                           constraint=torch.distributions.constraints.positive)
        pyro.sample("z", RectifiedNormal(loc, scale).to_event(1))

    elbo = TraceMeanField_ELBO()
    loss = elbo.differentiable_loss(model, guide)
    # With no observations the loss is the KL itself, deterministic: a Monte Carlo
    # fallback would return a different random number on each call.
    loc, scale = pyro.param("loc"), pyro.param("scale")
    expected = kl_divergence(RectifiedNormal(loc, scale), RectifiedNormal(prior_loc, prior_scale))
    torch.testing.assert_close(loss, expected.sum())
    torch.testing.assert_close(elbo.loss(model, guide), expected.sum().item())
    grad = torch.autograd.grad(loss, loc)[0]
    torch.testing.assert_close(grad, torch.autograd.grad(expected.sum(), loc)[0])
