"""KL(mean-field Normal || MatrixNormal) against the dense Gaussian KL."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import TraceMeanField_ELBO
from torch.distributions import MultivariateNormal, kl_divergence

from .matrix_normal_reference import KINDS, random_matrix_normal, vec

STRUCTURES = [(r, c) for r in KINDS for c in KINDS]


@pytest.mark.parametrize("kinds", STRUCTURES, ids=[f"{r}-{c}" for r, c in STRUCTURES])
def test_matches_dense(kinds):
    n, p = 3, 2
    prior, prior_ref = random_matrix_normal(*kinds, n, p, row_batch=(2,))
    loc = torch.randn(4, 1, n, p, dtype=torch.float64)
    scale = 0.5 + torch.rand(4, 1, n, p, dtype=torch.float64)
    q = dist.Normal(loc, scale).to_event(2)
    q_ref = MultivariateNormal(vec(loc), covariance_matrix=torch.diag_embed(vec(scale) ** 2))
    kl = kl_divergence(q, prior)
    assert kl.shape == (4, 2)
    torch.testing.assert_close(kl, kl_divergence(q_ref, prior_ref), rtol=1e-10, atol=1e-10)


def test_gradients_and_self_divergence():
    prior, _ = random_matrix_normal("diagonal", "diagonal", 3, 2)
    # The matrix normal with diagonal factors as a mean-field Normal: KL 0.
    same = dist.Normal(prior.loc, prior.variance.sqrt()).to_event(2)
    assert kl_divergence(same, prior).abs() < 1e-12
    loc = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    scale = (0.5 + torch.rand(3, 2, dtype=torch.float64)).requires_grad_()
    torch.autograd.gradcheck(
        lambda m, s: kl_divergence(dist.Normal(m, s).to_event(2), prior), (loc, scale)
    )


def test_other_shapes_raise_not_implemented():
    prior, _ = random_matrix_normal("dense", "diagonal", 3, 2)
    one_event_dim = dist.Normal(torch.zeros(3, 2, dtype=torch.float64), 1.0).to_event(1)
    transposed = dist.Normal(torch.zeros(2, 3, dtype=torch.float64), 1.0).to_event(2)
    for q in (one_event_dim, transposed):
        with pytest.raises(NotImplementedError):
            kl_divergence(q, prior)


def test_used_by_trace_mean_field_elbo():
    """With no data the loss is exactly the closed-form KL: nothing was sampled."""
    prior, _ = random_matrix_normal("low_rank", "diagonal", 3, 2, dtype=torch.float32)

    def model():
        pyro.sample("w", prior)

    def guide():
        pyro.sample("w", dist.Normal(prior.loc, prior.variance.sqrt()).to_event(2))

    loss = TraceMeanField_ELBO().loss(model, guide)
    expected = float(
        kl_divergence(dist.Normal(prior.loc, prior.variance.sqrt()).to_event(2), prior)
    )
    assert loss == pytest.approx(expected, rel=1e-6)
