"""Conjugate Bayesian linear regression: the matrix-normal guide finds the exact
posterior, the mean-field guide cannot.

``Y = X W + E`` with rows of ``E`` i.i.d. ``N(0, sigma^2 I_p)`` and the prior
``W ~ MN(0, I_n, I_p)`` give the posterior ``MN(M*, U*, I_p)`` with
``U* = (I + X^T X / sigma^2)^{-1}`` and ``M* = U* X^T Y / sigma^2``: a matrix normal
with dense row covariance, so a guide with dense rows contains it and the ELBO's
maximiser is the posterior itself. Inputs are correlated, so ``U*`` is far from
diagonal and a mean-field guide must miss its correlations.
"""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.nn import PyroModule

from pyro_local.guides import AutoMatrixNormal, AutoMeanFieldNormal
from pyro_local.infer import LocalELBO
from pyro_local.nn import BayesLinear, local_reparameterization

SIGMA = 0.5


class Regression(PyroModule):
    def __init__(self, n, p):
        super().__init__()
        self.layer = BayesLinear(n, p, bias=None, input_scale=None)  # prior MN(0, I_n, I_p)

    def forward(self, x, y=None):
        mean = self.layer(x)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("y", dist.Normal(mean, SIGMA).to_event(1), obs=y)
        return mean


def _data(n=3, p=2, num_data=30):
    g = torch.Generator().manual_seed(0)
    mix = torch.tensor([[1.0, 0.9, 0.0], [0.0, 0.5, 0.8], [0.0, 0.0, 0.4]])[:n, :n]
    x = torch.randn(num_data, n, generator=g) @ mix
    w = torch.randn(n, p, generator=g)
    y = x @ w + SIGMA * torch.randn(num_data, p, generator=g)
    return x.double(), y.double()


def _exact(x, y):
    n = x.shape[1]
    u = torch.linalg.inv(torch.eye(n, dtype=x.dtype) + x.mT @ x / SIGMA**2)
    return u @ x.mT @ y / SIGMA**2, u


def _fit(guide_cls, x, y, steps=1000, **kwargs):
    """The ELBO maximised by Adam with local reparameterization (learning rate 0.1,
    decayed linearly to 0 over the last quarter of the steps). Returns the mean of
    q and the covariance of vec(W) under q (columns stacked), both averaged over the
    last quarter of the steps (Polyak averaging, which removes most of the noise of
    the final iterate)."""
    model = Regression(x.shape[1], y.shape[1])
    guide = guide_cls(model, **kwargs)
    guide(x, y)
    optim = torch.optim.Adam(guide.parameters(), lr=0.1)
    decay = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: min(1.0, 4 * (1 - s / steps)))
    elbo = LocalELBO()
    means, covs = [], []
    for step in range(steps):
        with local_reparameterization():
            loss = elbo.differentiable_loss(model, guide, x, y)
        optim.zero_grad()
        loss.backward()
        optim.step()
        decay.step()
        if step >= 3 * steps // 4:
            with torch.no_grad():
                q = guide.posteriors.layer.weight.distribution()
                means.append(q.mean.clone())
                covs.append(_vec_cov(q))
    return torch.stack(means).mean(0), torch.stack(covs).mean(0)


def _vec_cov(q):
    if hasattr(q, "row_covariance"):
        return torch.kron(q.column_covariance.contiguous(), q.row_covariance.contiguous())
    return torch.diag(q.base_dist.scale.mT.reshape(-1).pow(2))


@pytest.mark.slow
def test_matrix_normal_recovers_the_posterior():
    pyro.enable_validation(False)  # 2000 steps; the checks are tested elsewhere
    torch.set_default_dtype(torch.float64)
    try:
        x, y = _data()
        m_star, u_star = _exact(x, y)
        cov_star = torch.kron(torch.eye(y.shape[1]), u_star.contiguous())
        m_mn, cov_mn = _fit(AutoMatrixNormal, x, y, structure=("dense", "diagonal"))
        m_mf, cov_mf = _fit(AutoMeanFieldNormal, x, y)
    finally:
        torch.set_default_dtype(torch.float32)
    post_sd = u_star.diagonal().sqrt().unsqueeze(-1)
    # Means within 5% of a posterior standard deviation, covariances within 5% in
    # Frobenius norm: what is left of the optimiser's noise after averaging (about
    # 2-3% measured), well below any error of the family or the ELBO.
    assert ((m_mn - m_star).abs() / post_sd).max() < 0.05
    dist_mn = torch.linalg.matrix_norm(cov_mn - cov_star)
    dist_mf = torch.linalg.matrix_norm(cov_mf - cov_star)
    scale = torch.linalg.matrix_norm(cov_star)
    assert dist_mn / scale < 0.05
    assert dist_mn <= dist_mf
    assert dist_mf / scale > 0.2  # the mean-field guide really misses the correlations
