"""The local reparameterization draws the pre-activations of sampled weights.

For every factor structure and both layer types, three checks:

- exact: the mean and the per-row covariance ``(a U a^T) V`` that the layers use
  equal those of ``B = A W`` computed with dense algebra from ``vec(W) ~ N(vec M,
  V kron U)`` (no sampling);
- Monte Carlo: pre-activations drawn by the local reparameterization and
  pre-activations computed from whole sampled weights have the same means and
  per-row covariances. ``S`` draws of each; every mean and covariance entry is
  compared with its two-sample standard error (Gaussian: ``Var(mean) = s_jj / S``,
  ``Var(cov_jk) = (s_jj s_kk + s_jk^2) / S``, ``s`` the exact covariance) at 5 standard
  errors, so that the ~700 comparisons of this file have a family-wise false-alarm
  rate below 1e-3 (the seed is fixed, so the test is deterministic anyway). The
  local draws are also compared with the exact moments (one-sample standard
  errors): with ``S = 10^4`` a relative error of the variances above about 7%
  fails, smaller ones are left to the exact check;
- the same for a mean-field Normal posterior.
"""

import pyro.distributions as dist
import pytest
import torch
from distributions.matrix_normal_reference import dense_covariance, random_matrix_normal

from pyro_local.nn.local_reparam import preactivation_moments, sample_preactivations
from pyro_local.nn.weight_maps import Conv2dMap, LinearMap

from .test_weight_maps import _rows

NUM_SAMPLES = 10000
Z = 5.0
STRUCTURES = ["diagonal", "low_rank", "dense"]


def _map(kind):
    if kind == "linear":
        return LinearMap(4, 3), (6, 4)
    # 2 images x 2 x 2 output locations: 8 rows of 2 * 2 * 2 + 1 = 9 entries.
    return Conv2dMap(2, 3, 2), (2, 2, 3, 3)


def _as_rows(wmap, b):
    """Pre-activations ``(..., N, p[, H, W])`` as rows ``(..., L, p)``."""
    if isinstance(wmap, LinearMap):
        return b
    b = b.movedim(-3, -1)  # (..., N, H, W, p)
    return b.reshape(b.shape[:-4] + (-1, b.shape[-1]))


def _moments(samples):
    """Sample mean ``(L, p)`` and per-row covariance ``(L, p, p)`` of ``(S, L, p)``."""
    mean = samples.mean(0)
    centred = samples - mean
    cov = torch.einsum("slj,slk->ljk", centred, centred) / (samples.shape[0] - 1)
    return mean, cov


def _assert_same_moments(a, b, exact_cov):
    """Two-sample comparison of means and covariances at ``Z`` standard errors."""
    mean_a, cov_a = _moments(a)
    mean_b, cov_b = _moments(b)
    var = exact_cov.diagonal(dim1=-2, dim2=-1)
    se_mean = (2 * var / NUM_SAMPLES).sqrt()
    assert ((mean_a - mean_b).abs() / se_mean).max() < Z
    se_cov = (2 * (var.unsqueeze(-1) * var.unsqueeze(-2) + exact_cov.pow(2)) / NUM_SAMPLES).sqrt()
    assert ((cov_a - cov_b).abs() / se_cov).max() < Z


def _assert_exact_moments(samples, exact_mean, exact_cov):
    """One-sample comparison with the exact moments at ``Z`` standard errors."""
    mean, cov = _moments(samples)
    var = exact_cov.diagonal(dim1=-2, dim2=-1)
    assert ((mean - exact_mean).abs() / (var / NUM_SAMPLES).sqrt()).max() < Z
    se_cov = ((var.unsqueeze(-1) * var.unsqueeze(-2) + exact_cov.pow(2)) / NUM_SAMPLES).sqrt()
    assert ((cov - exact_cov).abs() / se_cov).max() < Z


def _exact_row_moments(wmap, x, loc, vec_cov):
    """Mean and per-row covariance of ``B = A W`` with dense algebra."""
    rows = _rows(wmap, x).reshape(-1, wmap.rows)  # (L, n)
    p = wmap.columns
    mean = rows @ loc
    covs = []
    for a in rows:
        # b = (I_p kron a) vec(W)
        k = torch.kron(torch.eye(p, dtype=a.dtype), a.unsqueeze(0))
        covs.append(k @ vec_cov @ k.mT)
    return mean, torch.stack(covs)


CASES = [("linear", r, c) for r in STRUCTURES for c in STRUCTURES] + [
    ("conv", k, k) for k in STRUCTURES
]


@pytest.mark.parametrize("layer,row_kind,column_kind", CASES)
def test_matrix_normal_preactivations(layer, row_kind, column_kind):
    wmap, x_shape = _map(layer)
    posterior, ref = random_matrix_normal(row_kind, column_kind, wmap.rows, wmap.columns)
    x = torch.randn(x_shape, dtype=torch.float64)

    exact_mean, exact_cov = _exact_row_moments(wmap, x, posterior.loc, ref.covariance_matrix)
    mean, quad = preactivation_moments(wmap, x, posterior)
    quad = _as_rows(wmap, quad.unsqueeze(wmap.column_dim)).squeeze(-1)
    column_cov = posterior.column_covariance
    torch.testing.assert_close(_as_rows(wmap, mean), exact_mean)
    torch.testing.assert_close(quad[:, None, None] * column_cov, exact_cov)

    local = sample_preactivations(wmap, x.expand((NUM_SAMPLES,) + x.shape), posterior)
    # Whole weights times the explicit rows (the batched maps are checked against
    # this in test_weight_maps).
    whole = _rows(wmap, x).reshape(-1, wmap.rows) @ posterior.rsample((NUM_SAMPLES,))
    _assert_same_moments(_as_rows(wmap, local), whole, exact_cov)
    _assert_exact_moments(_as_rows(wmap, local), exact_mean, exact_cov)


@pytest.mark.parametrize("layer", ["linear", "conv"])
def test_mean_field_preactivations(layer):
    wmap, x_shape = _map(layer)
    loc = torch.randn(wmap.weight_shape, dtype=torch.float64)
    scale = 0.5 + torch.rand(wmap.weight_shape, dtype=torch.float64)
    posterior = dist.Normal(loc, scale).to_event(2)
    x = torch.randn(x_shape, dtype=torch.float64)
    vec_cov = torch.diag(scale.mT.reshape(-1).pow(2))  # columns stacked
    exact_mean, exact_cov = _exact_row_moments(wmap, x, loc, vec_cov)

    local = sample_preactivations(wmap, x.expand((NUM_SAMPLES,) + x.shape), posterior)
    whole = _rows(wmap, x).reshape(-1, wmap.rows) @ posterior.rsample((NUM_SAMPLES,))
    torch.testing.assert_close(_as_rows(wmap, wmap.apply(x, loc)), exact_mean)
    _assert_same_moments(_as_rows(wmap, local), whole, exact_cov)
    _assert_exact_moments(_as_rows(wmap, local), exact_mean, exact_cov)


def test_conv_locations_are_independent_under_local_reparameterization():
    """The documented approximation for convolutions: two locations of one image
    are correlated when ``W`` is shared, uncorrelated under local draws."""
    wmap = Conv2dMap(1, 1, 2, bias_row=False)
    posterior, _ = random_matrix_normal("diagonal", "diagonal", wmap.rows, 1)
    posterior = type(posterior).diagonal(
        torch.zeros_like(posterior.loc), posterior.row_scale, posterior.column_scale
    )
    x = torch.ones(1, 1, 2, 3, dtype=torch.float64)  # two identical patches
    local = sample_preactivations(wmap, x.expand((NUM_SAMPLES,) + x.shape), posterior)
    whole = _rows(wmap, x).reshape(-1, wmap.rows) @ posterior.rsample((NUM_SAMPLES,))
    corr_local = torch.corrcoef(local.reshape(NUM_SAMPLES, 2).mT)[0, 1]
    corr_whole = torch.corrcoef(whole.reshape(NUM_SAMPLES, 2).mT)[0, 1]
    se = NUM_SAMPLES**-0.5  # standard error of a correlation near 0
    assert corr_local.abs() < Z * se
    torch.testing.assert_close(corr_whole, torch.tensor(1.0, dtype=torch.float64))


def test_unsupported_posteriors():
    wmap = LinearMap(2, 2)
    x = torch.randn(4, 2)
    with pytest.raises(TypeError, match="MatrixNormal or a Normal"):
        sample_preactivations(wmap, x, dist.Laplace(torch.zeros(3, 2), 1.0).to_event(2))
    batched = dist.Normal(torch.zeros(5, 3, 2), 1.0).to_event(2)
    with pytest.raises(ValueError, match="unbatched posterior"):
        sample_preactivations(wmap, x, batched)


def test_dense_reference_helper_is_consistent():
    """Guard for the reference itself: dense_covariance of a diagonal factor."""
    scale = torch.tensor([1.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(dense_covariance("diagonal", (scale,)), torch.diag(scale**2))
