"""RectifiedNormal against independent references.

Moments and entropy are checked against float64 quadrature of the density and against
50-digit closed forms (mpmath, which torch installs through sympy), so the far tails,
where the float64 answers are ~1e-200, are tested with relative accuracy; the
truncated-normal helper against 50-digit closed forms; cdf and icdf against scipy;
the pathwise gradient of ``rsample`` against finite differences of an exact
expectation computed by scipy quadrature.
"""

import math

import mpmath
import numpy as np
import pytest
import torch
from scipy import integrate, stats

from pyro_local.distributions import RectifiedNormal
from pyro_local.distributions.truncated_moments import truncated_normal_moments

# (loc, scale) pairs, from all atom to all slab; loc / scale from -35 to 35.
PARAMS = [
    (-35.0, 1.0),
    (-3.0, 0.1),
    (-6.0, 2.0),
    (-2.5, 1.0),
    (-0.7, 3.0),
    (0.0, 1.0),
    (0.4, 0.5),
    (2.0, 1.0),
    (7.0, 0.2),
    (3.5, 0.1),
]


def _dist(loc, scale, dtype=torch.float64):
    return RectifiedNormal(torch.tensor(loc, dtype=dtype), torch.tensor(scale, dtype=dtype))


def _mp_moments(loc, scale):
    """P(z = 0), E z, Var z and the entropy from 50-digit closed forms.

    In 50 digits the textbook formulas, which cancel catastrophically in float64, are
    exact. They are evaluated at the float64 value of ``loc / scale`` that the code
    sees, so the comparison measures the code's round-off, not the conditioning of
    ``Phi(a)`` (whose relative sensitivity to ``a`` is ~ a**2 in the left tail).
    """
    with mpmath.workdps(50):
        a, s = mpmath.mpf(loc / scale), mpmath.mpf(scale)
        cdf, pdf, p0 = mpmath.ncdf(a), mpmath.npdf(a), mpmath.ncdf(-a)
        mean = s * (a * cdf + pdf)
        second = s**2 * ((a**2 + 1) * cdf + a * pdf)
        # E[w^2; w > -a] = Phi(a) - a phi(a) for a standard normal w.
        slab_entropy = cdf * mpmath.log(s * mpmath.sqrt(2 * mpmath.pi)) + (cdf - a * pdf) / 2
        entropy = -p0 * mpmath.log(p0) + slab_entropy
        return [float(x) for x in (p0, mean, second - mean**2, entropy)]


def _quad_slab(d, g, loc, scale):
    """Integral of g(z) q(z) over z > 0 by float64 adaptive quadrature of our density."""
    hi = max(loc, 0) + 12 * scale
    points = [x for x in (scale / max(-loc / scale, 1), max(loc, 0)) if 0 < x < hi]

    def integrand(z):
        return g(z) * math.exp(d.log_prob(torch.tensor(z, dtype=torch.float64)).item())

    value, err = integrate.quad(integrand, 0, hi, points=points, epsabs=0, epsrel=1e-12,
                                limit=200)
    assert err < 1e-10 * abs(value)  # quadrature error control
    return value


@pytest.mark.parametrize("loc,scale", PARAMS)
def test_normalisation_and_moments_match_numerical_integration(loc, scale):
    d = _dist(loc, scale)
    p0 = d.prob_zero.item()
    # Atom plus slab sum to one; the slab's mass is P(z > 0) = Phi(loc / scale).
    mass = _quad_slab(d, lambda z: 1.0, loc, scale)
    assert p0 + mass == pytest.approx(1, abs=1e-12)
    assert mass == pytest.approx(stats.norm.cdf(loc / scale), rel=1e-9)
    # The atom contributes nothing to E z and E (z - m)^2 beyond its zero value.
    mean = _quad_slab(d, lambda z: z, loc, scale)
    var = _quad_slab(d, lambda z: (z - mean) ** 2, loc, scale) + p0 * mean**2
    entropy = -p0 * math.log(p0) - _quad_slab(
        d, lambda z: d.log_prob(torch.tensor(z, dtype=torch.float64)).item(), loc, scale
    )
    assert d.mean.item() == pytest.approx(mean, rel=1e-9)
    assert d.variance.item() == pytest.approx(var, rel=1e-9)
    assert d.entropy().item() == pytest.approx(entropy, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("loc,scale", PARAMS)
def test_moments_match_high_precision_closed_forms(loc, scale):
    # Relative accuracy down to the far left tail, where the mean is ~1e-270.
    d = _dist(loc, scale)
    p0, mean, var, entropy = _mp_moments(loc, scale)
    torch.testing.assert_close(d.prob_zero.item(), p0, rtol=1e-13, atol=0)
    torch.testing.assert_close(d.mean.item(), mean, rtol=1e-13, atol=0)
    torch.testing.assert_close(d.variance.item(), var, rtol=1e-13, atol=0)
    torch.testing.assert_close(d.entropy().item(), entropy, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_truncated_moments_match_high_precision_closed_forms(dtype):
    # 50 digits make the textbook formulas exact; torch must match to a few hundred
    # units of round-off in either dtype, from a = -60 (variance ~ 1/3600) to 10.
    a_grid = [x / 4 for x in range(-240, 41)]
    a = torch.tensor(a_grid, dtype=dtype)
    m = truncated_normal_moments(a)
    eps = torch.finfo(dtype).eps
    expected = {"inv_mills": [], "mean": [], "var": []}
    with mpmath.workdps(50):
        for x in a.tolist():
            x = mpmath.mpf(x)
            lam = mpmath.npdf(x) / mpmath.ncdf(x)
            expected["inv_mills"].append(float(lam))
            expected["mean"].append(float(x + lam))
            expected["var"].append(float(1 - x * lam - lam**2))
    for name, ref in expected.items():
        ref = torch.tensor(ref, dtype=torch.float64)
        rel = ((getattr(m, name).double() - ref) / ref).abs()
        assert rel.max() < 300 * eps, (name, a[rel.argmax()].item(), rel.max().item())
    assert (m.var > 0).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_far_tails_are_finite_with_finite_gradients(dtype):
    ratios = torch.tensor([-1e4, -300.0, -40.0, -2.0, 0.0, 2.0, 40.0, 300.0, 1e4], dtype=dtype)
    loc = (ratios * 0.5).requires_grad_()
    scale = torch.full_like(ratios, 0.5).requires_grad_()
    d = RectifiedNormal(loc, scale)
    value = torch.tensor([0.0, 1.0], dtype=dtype).unsqueeze(-1)
    outputs = [d.log_prob(value), d.mean, d.variance, d.entropy(), d.cdf(value)]
    for out in outputs:
        assert torch.isfinite(out).all()
        gl, gs = torch.autograd.grad(out.sum(), (loc, scale), allow_unused=True)
        assert torch.isfinite(gl).all() and torch.isfinite(gs).all()
    assert (d.variance >= 0).all() and (d.mean >= 0).all()


def test_float32_keeps_float32_accuracy_in_the_tails():
    # No catastrophic cancellation: float32 agrees with float64, at the same (float32)
    # inputs, to a few hundred units of float32 round-off, wherever the value is a
    # normal float32 number (loc / scale down to -9, where the mean is ~1e-20).
    loc = torch.linspace(-27, 105, 177)
    scale = torch.full_like(loc, 3.0)
    d32, d64 = RectifiedNormal(loc, scale), RectifiedNormal(loc.double(), scale.double())
    eps = torch.finfo(torch.float32).eps
    for name in ["mean", "variance"]:
        x64, x32 = getattr(d64, name), getattr(d32, name).double()
        rel = ((x32 - x64) / x64).abs()
        assert rel.max() < 300 * eps, (name, loc[rel.argmax()].item(), rel.max().item())
    x64, x32 = d64.entropy(), d32.entropy().double()
    assert ((x32 - x64).abs() < 300 * eps * (1 + x64.abs())).all()


def test_cdf_and_icdf_match_scipy():
    loc = torch.tensor([-1.0, 0.5, 3.0], dtype=torch.float64)
    scale = torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64)
    d = RectifiedNormal(loc, scale)
    z = torch.tensor([[0.0], [0.3], [2.5], [7.0]], dtype=torch.float64)
    expected = stats.norm.cdf(z.numpy(), loc.numpy(), scale.numpy())
    torch.testing.assert_close(d.cdf(z), torch.as_tensor(expected), rtol=1e-12, atol=1e-15)
    # cdf(0) is the atom: P(Z <= 0) = P(Z = 0).
    torch.testing.assert_close(d.cdf(torch.zeros(3, dtype=torch.float64)), d.prob_zero)
    # icdf inverts cdf on the slab and sends every level up to the atom to zero.
    u = torch.tensor([0.6, 0.9, 0.999], dtype=torch.float64)
    expected = np.maximum(0, stats.norm.ppf(u.numpy(), loc.numpy(), scale.numpy()))
    torch.testing.assert_close(d.icdf(u), torch.as_tensor(expected), rtol=1e-10, atol=1e-12)
    assert (d.icdf(d.prob_zero * 0.5) == 0).all()
    loc.requires_grad_()
    at_zero = RectifiedNormal(loc, scale.requires_grad_()).icdf(torch.zeros(3, dtype=torch.float64))
    assert (at_zero == 0).all()
    assert all(torch.isfinite(g).all() for g in torch.autograd.grad(at_zero.sum(), (loc, scale)))
    without_validation = RectifiedNormal(loc, scale, validate_args=False)
    assert (without_validation.cdf(-torch.ones(3, dtype=torch.float64)) == 0).all()


def test_rsample_pathwise_gradient_matches_finite_differences():
    # f is continuous at zero, so the pathwise gradient of E f(relu(loc + scale eps)) is
    # unbiased; the exact expectation comes from scipy quadrature.
    def f(z):
        return torch.cos(z) + z**2

    def exact_expectation(loc, scale):
        slab, _ = integrate.quad(
            lambda z: (math.cos(z) + z**2) * stats.norm.pdf(z, loc, scale),
            0, max(loc, 0) + 15 * scale, epsabs=0, epsrel=1e-13, limit=200,
        )
        return stats.norm.cdf(-loc / scale) * 1.0 + slab  # f(0) = 1

    loc0, scale0, n = 0.4, 1.3, 200_000
    loc = torch.full((n,), loc0, dtype=torch.float64, requires_grad=True)
    scale = torch.full((n,), scale0, dtype=torch.float64, requires_grad=True)
    z = RectifiedNormal(loc, scale).rsample()
    f(z).sum().backward()  # each draw's gradient lands in its own entry of loc/scale
    h = 1e-5
    fd = [
        (exact_expectation(loc0 + h, scale0) - exact_expectation(loc0 - h, scale0)) / (2 * h),
        (exact_expectation(loc0, scale0 + h) - exact_expectation(loc0, scale0 - h)) / (2 * h),
    ]
    for g, expected in zip([loc.grad, scale.grad], fd, strict=True):
        se = g.std().item() / math.sqrt(n)
        # Four standard errors: a false alarm about once in 16000 runs.
        assert abs(g.mean().item() - expected) < 4 * se


def test_invalid_arguments_and_values_raise_clear_errors():
    with pytest.raises(ValueError, match="scale"):
        RectifiedNormal(torch.tensor(0.0), torch.tensor(-1.0), validate_args=True)
    d = RectifiedNormal(torch.tensor([0.0, 1.0]), torch.tensor(1.0), validate_args=True)
    with pytest.raises(ValueError, match="support"):
        d.log_prob(torch.tensor([-0.1, 1.0]))
    with pytest.raises(ValueError, match="support"):
        d.cdf(torch.tensor(-1.0))
    with pytest.raises(TypeError, match="floating-point"):
        truncated_normal_moments(torch.tensor([1, 2]))


def test_log_prob_outside_the_support_without_validation_is_minus_infinity():
    # As torch's distributions do: zero density outside the support, nan stays nan.
    d = RectifiedNormal(torch.tensor(0.3), torch.tensor(1.5), validate_args=False)
    lp = d.log_prob(torch.tensor([-1.0, -1e-30, float("nan"), 0.0, 0.7]))
    assert lp[0] == -math.inf and lp[1] == -math.inf and torch.isnan(lp[2])
    torch.testing.assert_close(lp[3], d.log_prob_zero)
    assert torch.isfinite(lp[4])
    loc = torch.tensor(0.3, requires_grad=True)
    lp = RectifiedNormal(loc, torch.tensor(1.0), validate_args=False).log_prob(
        torch.tensor([-1.0, 0.0, 0.5])
    )
    (grad,) = torch.autograd.grad(lp[1:].sum(), loc)
    assert torch.isfinite(grad)


def test_works_in_a_pyro_model_with_to_event_and_mask():
    import pyro
    import pyro.poutine as poutine

    def model():
        d = RectifiedNormal(torch.zeros(3), torch.ones(3)).to_event(1)
        with pyro.plate("n", 2):
            pyro.sample("z", d.mask(torch.tensor([True, False])))

    tr = poutine.trace(model).get_trace()
    site = tr.nodes["z"]
    assert site["value"].shape == (2, 3)
    assert (site["value"] >= 0).all()
    expected = site["fn"].base_dist.log_prob(site["value"])
    lp = site["fn"].log_prob(site["value"])
    torch.testing.assert_close(lp[0], expected[0])
    assert lp[1] == 0
