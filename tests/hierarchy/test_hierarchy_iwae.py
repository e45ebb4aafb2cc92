"""IWAE bounds of the tiny rectified hierarchy against its ELBO and exact log p(x).

``REPLICATES`` independent copies of one image, each with ``K_MAX`` importance
samples, give per-replicate bounds ``IWAE_k`` for every ``k`` dividing ``K_MAX`` (from
disjoint groups of draws); the ELBO comes from ``GROUPS`` independent LocalELBO
estimates. Comparisons use t-bounds on those independent replicates, Bonferroni-
corrected for a family-wise false-alarm rate of 1e-3.
"""

import pyro
import pytest
import torch
from scipy.stats import t as student_t

from pyro_local.infer import LocalELBO, importance_log_likelihood
from pyro_local.infer.importance import iwae_bound

from .hierarchy_reference import log_marginal
from .test_hierarchy_elbo import tiny

REPLICATES, K_MAX = 400, 256
KS = (1, 4, 16, 64, 256)
GROUPS, COPIES = 10, 2000
FALSE_ALARM = 1e-3


@pytest.fixture(scope="module")
def estimates():
    pyro.set_rng_seed(0)
    model, guide, x = tiny()
    est = importance_log_likelihood(
        model, guide, x.expand(REPLICATES, -1), num_samples=K_MAX, chunk_size=64
    )
    bounds = {k: iwae_bound(est.log_weights, k) for k in KS}  # each (REPLICATES,)
    elbo = LocalELBO()
    with torch.no_grad():
        elbos = torch.tensor([
            -float(elbo.differentiable_loss(model, guide, x.expand(COPIES, -1))) / COPIES
            for _ in range(GROUPS)
        ], dtype=torch.float64)
    return bounds, elbos, log_marginal(model, guide, x)


def _mean_se(samples):
    return float(samples.mean()), float(samples.std() / len(samples) ** 0.5)


def _t(num_comparisons, df):
    return student_t.ppf(1 - FALSE_ALARM / num_comparisons, df=df)


def test_iwae_increases_with_k_and_stays_below_log_marginal(estimates):
    bounds, _, log_px = estimates
    q = _t(2 * len(KS), REPLICATES - 1)
    for k_small, k_large in zip(KS, KS[1:]):
        mean, se = _mean_se(bounds[k_large] - bounds[k_small])  # paired replicates
        assert mean > -q * se, (k_small, k_large, mean, se)
    mean, se = _mean_se(bounds[KS[-1]] - bounds[1])
    assert mean > 10 * se  # a resolved increase, not noise
    for k in KS:
        mean, se = _mean_se(bounds[k])
        assert mean < log_px + q * se, k


def test_iwae_is_above_the_elbo(estimates):
    bounds, elbos, _ = estimates
    q = _t(2 * len(KS), GROUPS - 1)
    elbo, elbo_se = _mean_se(elbos)
    # K = 1 is the ELBO itself, estimated with a Monte Carlo KL: equal within errors.
    mean, se = _mean_se(bounds[1])
    assert abs(mean - elbo) < q * (se**2 + elbo_se**2) ** 0.5
    for k in KS[1:]:
        mean, se = _mean_se(bounds[k])
        assert mean > elbo + q * (se**2 + elbo_se**2) ** 0.5, k
