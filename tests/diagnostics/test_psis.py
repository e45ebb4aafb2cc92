"""PSIS k-hat on cases with known answers.

For p = N(0, 1) and q = N(0, s^2), the ratio p/q has a Pareto tail of shape
k = 1 - s^2 when s < 1 (d independent such dimensions keep that shape but make the
tail heavier before it is reached), and is bounded (k < 0) when s > 1.
"""

import math

import numpy as np
import pytest

from pyro_local.diagnostics import concat_fits, to_inference_data, variational_khat
from pyro_local.diagnostics.psis import KhatReading, khat_threshold, psis, psis_khat

from .conjugate import NormalMeans

NUM_DRAWS = 2000


def _fit(problem, scale, num_samples=NUM_DRAWS):
    def guide(y):
        problem.guide(y, scale=scale)

    return to_inference_data(problem.model, guide, problem.y, num_samples=num_samples,
                             parallel=True)


def test_exact_guide_gives_small_khat():
    # log p - log q equals log p(x) for every draw, up to rounding.
    result = variational_khat(_fit(NormalMeans(), scale=1.0)).overall
    assert result.khat < 0.5 - 0.2
    assert result.reading is KhatReading.GOOD
    assert result.ess == pytest.approx(NUM_DRAWS, rel=1e-6)


def test_slightly_wide_guide_gives_small_khat():
    # Bounded ratios (s = 1.2 > 1): the theory says k < 0. Over 30 seeds (data and draws)
    # the estimate had mean -0.12 and sd 0.08: the 0.3 bound is 5 sd away.
    result = variational_khat(_fit(NormalMeans(), scale=1.2)).overall
    assert math.isfinite(result.khat) and result.khat < 0.5 - 0.2
    assert result.reading is KhatReading.GOOD


def test_much_too_narrow_guide_gives_large_khat():
    # s = 0.3 in 10 dimensions: k = 1 - 0.09 = 0.91 asymptotically. Over 30 seeds at 2000
    # draws the estimate had mean 1.26 and sd 0.17 (minimum 0.89): 0.7 is 3 sd below.
    result = variational_khat(_fit(NormalMeans(), scale=0.3)).overall
    assert result.khat > 0.7
    assert result.reading is KhatReading.UNRELIABLE
    assert result.ess < NUM_DRAWS / 10
    assert "unreliable" in str(result)


def test_khat_per_layer_uses_only_that_layers_sites():
    # Two independent blocks, each with its own likelihood inside its layer; the guide
    # is exact for "exact" and much too narrow for "narrow".
    problem = NormalMeans()

    def model(y):
        problem.model(y, name="a", layer="exact")
        problem.model(y, name="b", layer="narrow")

    def guide(y):
        problem.guide(y, name="a")
        problem.guide(y, name="b", scale=0.3)

    idata = to_inference_data(model, guide, problem.y, num_samples=NUM_DRAWS, parallel=True)
    result = variational_khat(idata)
    assert set(result.layers) == {"exact", "narrow"}
    assert result.layers["exact"].reading is KhatReading.GOOD
    assert result.layers["narrow"].reading is KhatReading.UNRELIABLE
    assert result.overall.reading is KhatReading.UNRELIABLE


def test_chains_are_read_one_at_a_time():
    problem = NormalMeans(dim=3)
    idata = concat_fits([_fit(problem, 1.0, 200), _fit(problem, 0.3, 200)])
    with pytest.raises(ValueError, match="chain"):
        variational_khat(idata)
    with pytest.raises(ValueError, match="chain"):
        variational_khat(idata, chain=2)
    first, second = (variational_khat(idata, chain=c).overall for c in (0, 1))
    assert first.khat < second.khat


@pytest.mark.parametrize("khat,num_draws,reading", [
    (-math.inf, None, KhatReading.GOOD), (0.49, None, KhatReading.GOOD),
    (0.5, None, KhatReading.USABLE), (0.7, None, KhatReading.USABLE),
    (0.71, None, KhatReading.UNRELIABLE), (math.nan, None, KhatReading.UNRELIABLE),
    # ArviZ's threshold min(1 - 1/log10 S, 0.7): 0.565 at 200 draws, 0.41 at 50.
    (0.6, 200, KhatReading.UNRELIABLE), (0.6, 2000, KhatReading.USABLE),
    (0.45, 50, KhatReading.UNRELIABLE), (0.4, 50, KhatReading.GOOD),
])
def test_reading_thresholds(khat, num_draws, reading):
    assert KhatReading.of(khat, num_draws) is reading
    assert reading.describe(num_draws)


@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto:UserWarning")
@pytest.mark.parametrize("num_draws", [30, 100, 200, 1000, 5000])
def test_threshold_is_arviz_own(num_draws):
    import arviz as az

    log_lik = np.random.default_rng(0).normal(size=(1, num_draws, 3))
    good_k = az.loo(az.from_dict(log_likelihood={"y": log_lik}), reff=1.0).good_k
    assert khat_threshold(num_draws) == pytest.approx(good_k, abs=1e-12)


def test_khat_tracks_the_gaussian_tail_shape():
    # One dimension. s^2 = 0.5: k = 0.5; over 200 seeds at 4000 draws the estimate had
    # mean 0.47 and sd 0.11, so allow 4 sd. s = 2: bounded ratios, estimates near -1.7
    # (sd 0.12), so k < 0 holds by a wide margin.
    rng = np.random.default_rng(1)
    s = 0.5**0.5
    x = s * rng.normal(size=4000)
    assert abs(psis_khat(-0.5 * x**2 + 0.5 * (x / s) ** 2).khat - 0.5) < 4 * 0.11
    x = 2.0 * rng.normal(size=4000)
    assert psis_khat(-0.5 * x**2 + 0.5 * (x / 2.0) ** 2).khat < 0


def test_smoothed_weights_are_normalised_and_ess_is_their_inverse_square_sum():
    rng = np.random.default_rng(2)
    log_weights = rng.normal(size=500) * 2
    smoothed, result = psis(log_weights)
    assert np.exp(smoothed).sum() == pytest.approx(1.0)
    assert result.ess == pytest.approx(1 / np.sum(np.exp(2 * smoothed)))
    assert 1 <= result.ess <= 500


def test_tied_weights_read_as_bounded():
    result = psis_khat(np.full(100, -3.0))
    assert result.khat == -math.inf and result.reading is KhatReading.GOOD
    assert result.ess == pytest.approx(100) and result.note


def test_rounding_above_tied_ratios_still_reads_as_bounded():
    log_weights = np.r_[np.full(97, -3.0), np.full(3, -3.0 + 1e-12)]
    result = psis_khat(log_weights)
    assert result.khat == -math.inf and result.reading is KhatReading.GOOD


@pytest.mark.parametrize("num_top", [1, 2, 3, 4])
def test_a_handful_of_draws_above_tied_ratios_never_reads_good(num_top):
    # Issue 11.5: 1 to 4 distinct large ratios above a block of tied ones. arviz gives
    # up (inf); reading the ties as bounded ratios said -inf, "good", at ESS ~ 1.
    log_weights = np.r_[np.zeros(2000 - num_top), 30.0 - 5.0 * np.arange(num_top)]
    result = psis_khat(log_weights)
    assert result.khat == math.inf and result.reading is KhatReading.UNRELIABLE
    assert result.ess < 2 and "dominate" in result.note


def test_rectified_proposal_whose_atom_ties_the_weights_reads_unreliable():
    # q = RectifiedNormal(-3, 1) puts 99.87% of its draws on the atom z = 0, where every
    # ratio is the same; the few draws in the slab, near the data, carry all the weight.
    import torch

    from pyro_local.distributions import RectifiedNormal

    torch.manual_seed(3)
    q = RectifiedNormal(torch.tensor(-3.0), torch.tensor(1.0))
    p = RectifiedNormal(torch.tensor(0.0), torch.tensor(1.0))
    z = q.sample((2000,))
    log_lik = torch.distributions.Normal(z, 0.1).log_prob(torch.tensor(2.0))
    log_weights = (p.log_prob(z) + log_lik - q.log_prob(z)).double().numpy()
    assert 1 <= int((z > 0).sum()) <= 4
    result = psis_khat(log_weights)
    assert result.reading is KhatReading.UNRELIABLE and result.ess < 15


def test_nearly_all_weight_on_a_few_draws_reads_as_unreliable():
    # q puts 97% of its draws where p has no mass: not bounded, hopeless.
    log_weights = np.r_[np.full(97, -np.inf), [0.0, -1.0, -2.0]]
    result = psis_khat(log_weights)
    assert result.khat == math.inf and result.reading is KhatReading.UNRELIABLE
    assert "non-negligible" in result.note


@pytest.mark.parametrize("log_weights,match", [
    (np.zeros(20), "at least 21"),
    (np.zeros((30, 30)), "1-D"),
    (np.zeros((2, 30, 2)), "array of draws"),
    (np.r_[np.zeros(29), np.nan], "NaN"),
    (np.r_[np.zeros(29), np.inf], "NaN or \\+inf"),
    (np.full(30, -np.inf), "all -inf"),
])
def test_bad_log_weights(log_weights, match):
    with pytest.raises(ValueError, match=match):
        psis_khat(log_weights)
