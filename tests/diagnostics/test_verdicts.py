"""Each verdict on synthetic cases with known answers."""

import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch

from pyro_local import diagnostics as D
from pyro_local.diagnostics.psis import KhatReading, psis_khat
from pyro_local.diagnostics.verdicts import (
    HIGH_DIMENSION,
    calibration_verdict,
    fit_verdict,
    ood_verdict,
    optimisation_verdict,
    predictive_verdict,
)

from .conjugate import NormalMeans


def _classifier(temperature, n=20000, classes=5, seed=0):
    """Labels drawn from softmax(logits); the model predicts softmax(temperature *
    logits): calibrated at 1, overconfident above, underconfident below."""
    g = torch.Generator().manual_seed(seed)
    logits = 1.5 * torch.randn(n, classes, generator=g, dtype=torch.float64)
    labels = torch.multinomial(logits.softmax(-1), 1, generator=g).squeeze(-1)
    return (temperature * logits).softmax(-1), labels, logits.softmax(-1)


@pytest.mark.parametrize("temperature,word", [(1.0, None), (2.0, "overconfident"),
                                              (0.5, "underconfident")])
def test_calibration_verdict_names_the_direction_and_size(temperature, word):
    probs, labels, truth = _classifier(temperature)
    verdict = calibration_verdict(probs, labels)
    if word is None:
        assert verdict.status == "ok" and "calibrated" in verdict.finding
        return
    assert verdict.status in ("warn", "bad") and verdict.finding.startswith(word)
    # The size: the expected gap between confidence and accuracy, from the true
    # probabilities of the predicted classes (the verdict's number is its binned
    # version; 0.01 covers binning and sampling at 20000 points).
    confidence, predicted = probs.max(-1)
    gap = float((confidence - truth.gather(1, predicted[:, None]).squeeze(1)).mean())
    stated = float(verdict.finding.split(" by ")[1].split(" ")[0])
    assert stated == pytest.approx(abs(gap), abs=0.01)
    assert (gap > 0) == (word == "overconfident")


def test_predictive_verdict_against_the_class_frequencies():
    probs, labels, _ = _classifier(1.0)
    assert predictive_verdict(probs, labels).status == "ok"
    uninformed = torch.full_like(probs, 1 / probs.shape[1])
    verdict = predictive_verdict(uninformed, labels)
    assert verdict.status == "bad" and "no better" in verdict.finding


def _log_weights_gaussian(scale, dim, num_draws=200, seed=0):
    """log p - log q for p = N(0, I), q = N(0, scale^2 I) in ``dim`` dimensions, drawn
    in chunks so that 10^5 dimensions stay small in memory."""
    rng = np.random.default_rng(seed)
    out = np.zeros(num_draws)
    for start in range(0, dim, 10_000):
        x = scale * rng.standard_normal((num_draws, min(10_000, dim - start)))
        out += (-0.5 * x**2 + 0.5 * (x / scale) ** 2 + math.log(scale)).sum(1)
    return out


def test_fit_verdict_of_an_exact_guide_is_good():
    problem = NormalMeans()
    idata = D.to_inference_data(problem.model, problem.guide, problem.y, num_samples=1000,
                                parallel=True)
    verdict = fit_verdict(D.variational_khat(idata).overall, 10)
    assert verdict.status == "ok" and "close to the posterior" in verdict.finding


def test_fit_verdict_of_a_too_narrow_guide_is_bad():
    # Scale 0.3 in 10 dimensions: k = 0.91 asymptotically (see test_psis).
    problem = NormalMeans()
    idata = D.to_inference_data(problem.model, lambda y: problem.guide(y, scale=0.3),
                                problem.y, num_samples=2000, parallel=True)
    verdict = fit_verdict(D.variational_khat(idata).overall, 10)
    assert verdict.status == "bad" and "misses posterior mass" in verdict.finding


def test_fit_verdict_in_high_dimension_points_at_the_predictive_checks():
    # A guide 1 % too narrow in each of 10^5 dimensions: log-weight variance 10^5 *
    # (1 - 0.99^2)^2 / 2 = 20, so a handful of draws carry all the weight and k-hat is
    # large, as it is for any practical guide of that many weights.
    result = psis_khat(_log_weights_gaussian(0.99, 100_000))
    assert result.reading is KhatReading.UNRELIABLE
    verdict = fit_verdict(result, 100_000)
    assert verdict.status == "info" and "100,000-dimensional" in verdict.finding
    assert "predictive checks" in verdict.advice
    # The same k-hat in 10 dimensions is a bad fit, and a small k-hat is good in any
    # dimension (an exact guide: every log weight equal).
    assert fit_verdict(result, 10).status == "bad"
    exact = psis_khat(_log_weights_gaussian(1.0, 100_000))
    assert fit_verdict(exact, 100_000).status == "ok"


@pytest.mark.slow
def test_a_1e5_dimensional_posterior_reads_not_informative_in_the_report():
    # End to end: the export counts the latent dimension, the report reads by it.
    dim = 100_000

    def model(y):
        mu = pyro.sample("mu", dist.Normal(torch.zeros(dim), 1.0).to_event(1))
        pyro.sample("y", dist.Normal(mu.mean(-1), 1.0), obs=y)

    def guide(y):
        pyro.sample("mu", dist.Normal(torch.zeros(dim), 0.99).to_event(1))

    idata = D.to_inference_data(model, guide, torch.tensor(0.0), num_samples=200,
                                parallel=True, chunk_size=50)
    assert idata.sample_stats.attrs["latent_dimension"] == dim >= HIGH_DIMENSION
    page = D.build_report(idata)
    assert '<li class="verdict info"><span class="mark">i</span><b>Fit</b>' in page
    assert "not informative (high-dimensional)" in page


@pytest.mark.parametrize("aurocs,status", [({"a": 0.95, "b": 0.85}, "ok"),
                                           ({"a": 0.95, "b": 0.7}, "warn"),
                                           ({"a": 0.55}, "bad")])
def test_ood_verdict_takes_the_worst_set(aurocs, status):
    verdict = ood_verdict(aurocs)
    assert verdict.status == status
    assert all(f"{a:.3f}" in verdict.finding for a in aurocs.values())


def test_ood_verdict_reads_the_better_score_of_each_set():
    verdict = ood_verdict({"far": {"entropy": 0.55, "mutual_information": 0.85}})
    assert verdict.status == "ok"
    assert "far AUROC 0.850 by mutual information (good; predictive entropy 0.550)" in \
        verdict.finding


def test_optimisation_verdict_on_known_curves():
    rng = np.random.default_rng(0)
    steps = np.arange(2000)
    noise = rng.normal(scale=5.0, size=steps.size)
    converged = 1000 * np.exp(-steps / 100) + 500 + noise   # flat over the last 200 steps
    improving = 1500 - 0.5 * steps + noise                  # still falling linearly
    rising = 500 + 0.5 * np.maximum(steps - 1500, 0) + noise
    records = D.convergence({"a": converged, "b": improving, "c": rising, "d": [1.0, 2.0]})
    assert [r.state for r in records] == ["converged", "improving", "rising", "too few steps"]
    # A linear fall: the last 10 % of steps make about 10 % of the whole decrease
    # (measured between the first and last 200-step windows: 200 / 1800).
    assert records[1].relative_change == pytest.approx(-200 / 1800, abs=0.01)
    verdict = optimisation_verdict(records)
    assert verdict.status == "bad" and "b still improves" in verdict.finding
    assert "c rises" in verdict.finding and "too few steps to judge d" in verdict.finding
    assert optimisation_verdict(records[:1]).status == "ok"
    # Only short histories: no trend window to speak of.
    short = optimisation_verdict(records[3:])
    assert short.status == "warn" and "last 0 steps" not in short.finding
    assert short.finding == "too few steps to judge d (under 20 steps)."


def test_a_rising_term_with_a_falling_total_is_a_trade_off():
    # A KL that grows as its layer gets used while the likelihood term falls faster.
    steps = np.arange(1000)
    kl = 10 + 0.01 * steps
    nll = 1000 - 0.5 * steps
    records = D.convergence({"z": kl, "x": nll})
    (total,) = D.convergence({"total": kl + nll})
    verdict = optimisation_verdict(records, total)
    assert records[0].state == "rising" and verdict.status == "warn"
    assert "trade-off" in verdict.advice and "total loss does not rise" in verdict.finding
    assert optimisation_verdict(records).status == "bad"
