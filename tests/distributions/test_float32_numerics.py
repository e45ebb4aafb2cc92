"""float32 accuracy against float64 references where the textbook formulas lose it.

Each case fails on the formulas these replaced: the Woodbury quadratic form of a
low-rank factor (nats wrong for small diagonals), ``log1p(rho)`` for a scale ratio far
from one in the rectified KL, and torch's ``log_ndtr`` gradient in the far left tail.
Inputs are rounded to float32 before the float64 reference sees them, so the
comparison measures the algorithm, not the rounding of its inputs.
"""

import mpmath
import pytest
import torch

from pyro_local.distributions import MatrixNormal, RectifiedNormal
from pyro_local.distributions.truncated_moments import log_ndtr

F32, F64 = torch.float32, torch.float64


def _rounded(*shape, generator):
    return torch.randn(*shape, generator=generator, dtype=F64).float().double()


@pytest.mark.parametrize(
    "row_diag,column_diag,n,p,k",
    [(1e-4, 1e-3, 4, 3, 1), (1e-6, 1e-4, 4, 3, 1), (1e-6, 1e-4, 12, 8, 3), (1.0, 1.0, 4, 3, 2)],
)
def test_low_rank_log_prob_in_float32_is_as_accurate_as_the_dense_path(
    row_diag, column_diag, n, p, k
):
    g = torch.Generator().manual_seed(0)
    loc, wr, wc = (_rounded(*shape, generator=g) for shape in ((n, p), (n, k), (p, k)))
    dr = (row_diag * torch.rand(n, generator=g, dtype=F64).add(0.5)).float().double()
    dc = (column_diag * torch.rand(p, generator=g, dtype=F64).add(0.5)).float().double()
    x = MatrixNormal.low_rank(loc, wr, dr, wc, dc).sample((100,)).float().double()
    tril_r = torch.linalg.cholesky(wr @ wr.T + torch.diag(dr))
    tril_c = torch.linalg.cholesky(wc @ wc.T + torch.diag(dc))
    reference = MatrixNormal(loc, tril_r, tril_c).log_prob(x)

    def error(d):
        return (d.log_prob(x.float()).double() - reference).abs().max()

    low_rank = MatrixNormal.low_rank(*(t.float() for t in (loc, wr, dr, wc, dc)))
    dense = MatrixNormal(loc.float(), tril_r.float(), tril_c.float())
    # The dense float32 path is the yardstick of what float32 inputs allow (within
    # 2.5e-2 nats here at worst); the Woodbury form was 17 to 4e4 nats off.
    assert error(low_rank) <= 3 * error(dense) + 1e-4 * (1 + reference.abs().max())


@pytest.mark.parametrize("ratio", [1e-5, 1e-3, 0.3, 0.999, 1.0, 3.0, 1e4])
def test_rectified_kl_in_float32_matches_float64_for_any_scale_ratio(ratio):
    locs_q = torch.tensor([-3.0, -0.2, 0.0, 0.4, 2.5], dtype=F64)
    locs_p = torch.tensor([0.3, -1.0, 0.0, 0.2, 1.0], dtype=F64)
    scale_p = torch.tensor([1.0, 0.5, 2.0, 1.3, 0.7], dtype=F64)
    scale_q = (ratio * scale_p).float().double()

    def kl(dtype):
        q = RectifiedNormal((locs_q * scale_q).to(dtype), scale_q.to(dtype))
        p = RectifiedNormal(locs_p.to(dtype), scale_p.to(dtype))
        return torch.distributions.kl_divergence(q, p).double()

    reference = kl(F64)
    # torch's Normal KL at these scales is within ~3e-8 * (1 + KL) in float32.
    torch.testing.assert_close(kl(F32), reference, rtol=2e-6, atol=2e-7)


@pytest.mark.parametrize("x", [-1e5, -1e4, -1e3, -40.0, -6.0, -5.0, -4.0, -1.0, 0.0, 2.0, 8.0])
@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
def test_log_ndtr_gradient_is_the_inverse_mills_ratio(x, dtype):
    t = torch.tensor(x, dtype=dtype, requires_grad=True)
    (grad,) = torch.autograd.grad(log_ndtr(t), t)
    with mpmath.workdps(50):
        expected = float(mpmath.npdf(x) / mpmath.ncdf(x))
    rtol = 1e-6 if dtype == F32 else 1e-13
    assert float(grad) == pytest.approx(expected, rel=rtol)
    torch.testing.assert_close(log_ndtr(t).detach(), torch.special.log_ndtr(t).detach())


def test_rectified_atom_gradient_in_float32_far_in_the_tail():
    # d/dloc log P(z = 0) = -phi(a) / (scale Phi(-a)), a = loc / scale: about -a / scale.
    for a in (1e3, 1e4, 1e6):
        loc = torch.tensor(a, dtype=F32, requires_grad=True)
        (grad,) = torch.autograd.grad(RectifiedNormal(loc, torch.tensor(1.0)).log_prob_zero, loc)
        with mpmath.workdps(50):
            expected = -float(mpmath.npdf(a) / mpmath.ncdf(-a))
        assert float(grad) == pytest.approx(expected, rel=1e-6), a


def test_log_ndtr_has_second_derivatives():
    x = torch.tensor([-30.0, -6.0, -4.0, 0.5], dtype=F64, requires_grad=True)
    assert torch.autograd.gradgradcheck(log_ndtr, (x,))
