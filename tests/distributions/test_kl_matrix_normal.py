"""Closed-form KL divergences from a MatrixNormal against dense Gaussian KLs, and
their use by Pyro's ``TraceMeanField_ELBO``."""

import itertools

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import TraceMeanField_ELBO
from torch.distributions import MultivariateNormal, kl_divergence

from pyro_local.distributions import MatrixNormal

from .matrix_normal_reference import (
    KINDS,
    dense_covariance,
    dense_mvn,
    make_factor,
    random_matrix_normal,
    random_params,
    vec,
)

STRUCTURES = list(itertools.product(KINDS, KINDS))
STRUCTURE_IDS = [f"{r}-{c}" for r, c in STRUCTURES]


@pytest.mark.parametrize("q_kinds", STRUCTURES, ids=STRUCTURE_IDS)
@pytest.mark.parametrize("p_kinds", STRUCTURES, ids=STRUCTURE_IDS)
def test_kl_matrix_normal_matches_dense(p_kinds, q_kinds):
    p, p_ref = random_matrix_normal(*p_kinds, 3, 2, loc_batch=(2,))
    q, q_ref = random_matrix_normal(*q_kinds, 3, 2, row_batch=(4, 1))
    kl = kl_divergence(p, q)
    assert kl.shape == (4, 2)
    torch.testing.assert_close(kl, kl_divergence(p_ref, q_ref), rtol=1e-9, atol=1e-10)


def test_kl_matrix_normal_float32_and_self():
    p, p_ref = random_matrix_normal("dense", "low_rank", 4, 3, dtype=torch.float32)
    q, q_ref = random_matrix_normal("low_rank", "diagonal", 4, 3, dtype=torch.float32)
    kl = kl_divergence(p, q)
    assert kl.dtype == torch.float32
    torch.testing.assert_close(kl.double(), kl_divergence(p_ref, q_ref), rtol=1e-5, atol=1e-5)
    assert kl_divergence(p, p).abs() < 1e-5


def _normal_prior(n, p, per_entry):
    if per_entry:
        loc = torch.randn(n, p, dtype=torch.float64)
        scale = 0.5 + torch.rand(n, p, dtype=torch.float64)
        return dist.Normal(loc, scale).to_event(2), loc, scale
    loc = torch.tensor(0.3, dtype=torch.float64)
    scale = torch.tensor(1.7, dtype=torch.float64)
    prior = dist.Normal(loc, scale).expand([n, p]).to_event(2)
    return prior, loc.expand(n, p), scale.expand(n, p)


@pytest.mark.parametrize("per_entry", [False, True], ids=["expanded", "per_entry"])
@pytest.mark.parametrize("p_kinds", STRUCTURES, ids=STRUCTURE_IDS)
def test_kl_independent_normal_matches_dense(p_kinds, per_entry):
    n, m = 3, 2
    p, p_ref = random_matrix_normal(*p_kinds, n, m, loc_batch=(2,))
    q, loc, scale = _normal_prior(n, m, per_entry)
    q_ref = MultivariateNormal(vec(loc), covariance_matrix=torch.diag(vec(scale) ** 2))
    kl = kl_divergence(p, q)
    assert kl.shape == (2,)
    torch.testing.assert_close(kl, kl_divergence(p_ref, q_ref), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("p_kinds", [("dense", "diagonal"), ("low_rank", "low_rank")])
def test_kl_gradients_match_dense(p_kinds):
    n, m = 3, 2
    loc = torch.randn(n, m, dtype=torch.float64, requires_grad=True)
    params_r = [t.requires_grad_() for t in random_params(p_kinds[0], n)]
    params_c = [t.requires_grad_() for t in random_params(p_kinds[1], m)]
    leaves = [loc, *params_r, *params_c]
    p = MatrixNormal.from_factors(
        loc, make_factor(p_kinds[0], params_r), make_factor(p_kinds[1], params_c)
    )
    p_ref = dense_mvn(
        loc,
        dense_covariance(p_kinds[0], params_r),
        dense_covariance(p_kinds[1], params_c),
    )
    q, q_ref = random_matrix_normal("low_rank", "dense", n, m)
    grads = torch.autograd.grad(kl_divergence(p, q), leaves)
    grads_ref = torch.autograd.grad(kl_divergence(p_ref, q_ref), leaves)
    # Entries above the diagonal of a Cholesky factor are not parameters: the dense
    # reference differentiates L L^T through them, log|L| does not. Compare the rest.
    is_tril = [False]
    is_tril += [p_kinds[0] == "dense"] * len(params_r) + [p_kinds[1] == "dense"] * len(params_c)
    for a, b, tril in zip(grads, grads_ref, is_tril, strict=True):
        if tril:
            a, b = a.tril(), b.tril()
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(
    "make_prior",
    [
        lambda: dist.Normal(0.0, 1.0).expand([6]).to_event(1),
        lambda: dist.Normal(0.0, 1.0).expand([3, 2]).to_event(1),
        lambda: dist.Normal(0.0, 1.0).expand([2, 3]).to_event(2),
        lambda: dist.Normal(0.0, 1.0).expand([1, 3, 2]).to_event(3),
        lambda: dist.Laplace(0.0, 1.0).expand([3, 2]).to_event(2),
    ],
    ids=["flat", "one_event_dim", "transposed", "three_event_dims", "laplace"],
)
def test_kl_other_independent_priors_not_implemented(make_prior):
    p, _ = random_matrix_normal("diagonal", "diagonal", 3, 2, dtype=torch.float32)
    with pytest.raises(NotImplementedError):
        kl_divergence(p, make_prior())


def test_kl_mismatched_event_shapes_raise():
    p, _ = random_matrix_normal("diagonal", "dense", 3, 2)
    q, _ = random_matrix_normal("diagonal", "dense", 2, 3)
    with pytest.raises(ValueError, match="event shapes"):
        kl_divergence(p, q)


def _guide(n, m):
    loc = pyro.param("loc", lambda: torch.randn(n, m))
    row = pyro.param("row", lambda: torch.rand(n) + 0.5, constraint=dist.constraints.positive)
    col = pyro.param("col", lambda: torch.rand(m) + 0.5, constraint=dist.constraints.positive)
    pyro.sample("w", MatrixNormal.diagonal(loc, row, col))


@pytest.mark.parametrize("prior_kind", ["normal", "matrix_normal", "laplace"])
def test_trace_mean_field_elbo_uses_closed_form(prior_kind):
    n, m = 4, 3
    priors = {
        "normal": dist.Normal(0.0, 2.0).expand([n, m]).to_event(2),
        "matrix_normal": MatrixNormal(torch.zeros(n, m), torch.eye(n), 0.5 * torch.eye(m)),
        "laplace": dist.Laplace(0.0, 2.0).expand([n, m]).to_event(2),
    }
    prior = priors[prior_kind]

    def model(n, m):
        pyro.sample("w", prior)

    elbo = TraceMeanField_ELBO()
    losses = torch.stack([elbo.differentiable_loss(model, _guide, n, m) for _ in range(3)])
    guide = MatrixNormal.diagonal(
        pyro.param("loc"), pyro.param("row"), pyro.param("col"), validate_args=True
    )
    if prior_kind == "laplace":
        # No closed form: the ELBO falls back to a single-sample Monte Carlo estimate.
        assert losses.std() > 0
    else:
        # With no observations the loss is exactly KL(guide || prior): no sampling noise.
        expected = kl_divergence(guide, prior)
        torch.testing.assert_close(losses, expected.expand(3), rtol=1e-6, atol=1e-6)


def test_trace_mean_field_elbo_at_exact_posterior_is_log_evidence():
    # Matrix-variate regression Y = X W + E, rows of E ~ N(0, s^2 V), prior
    # W ~ MN(0, U0, V): the posterior is MN(U X^T Y / s^2, U, V) with
    # U = (U0^-1 + X^T X / s^2)^-1, and at the exact posterior the ELBO equals
    # log p(Y) = log N(vec Y; 0, V kron (X U0 X^T + s^2 I)), computed densely.
    n, m, num_data, noise = 3, 2, 5, 0.5
    prior_params_r = random_params("low_rank", n)
    prior_params_c = random_params("low_rank", m)
    u0 = dense_covariance("low_rank", prior_params_r)
    v = dense_covariance("low_rank", prior_params_c)
    x = torch.randn(num_data, n, dtype=torch.float64)
    y = torch.randn(num_data, m, dtype=torch.float64)
    u_post = torch.linalg.inv(torch.linalg.inv(u0) + x.T @ x / noise**2)
    m_post = u_post @ x.T @ y / noise**2
    evidence_cov = x @ u0 @ x.T + noise**2 * torch.eye(num_data, dtype=torch.float64)
    log_evidence = dense_mvn(torch.zeros_like(y), evidence_cov, v).log_prob(vec(y))

    chol_noise = noise * torch.eye(num_data, dtype=torch.float64)
    chol_u, chol_v = torch.linalg.cholesky(u_post), torch.linalg.cholesky(v)

    def model():
        loc = torch.zeros(n, m, dtype=torch.float64)
        w = pyro.sample("w", MatrixNormal.low_rank(loc, *prior_params_r, *prior_params_c))
        # Independent rows N(x_i W, s^2 V) are Y ~ MN(X W, s^2 I, V).
        pyro.sample("y", MatrixNormal(x @ w, chol_noise, chol_v), obs=y)

    def guide():
        pyro.sample("w", MatrixNormal(m_post, chol_u, chol_v))

    elbo = TraceMeanField_ELBO(num_particles=200, vectorize_particles=True, max_plate_nesting=0)
    losses = torch.tensor([elbo.loss(model, guide) for _ in range(10)], dtype=torch.float64)
    se = losses.std() / len(losses) ** 0.5
    assert (losses.mean() + log_evidence).abs() <= 5 * se
