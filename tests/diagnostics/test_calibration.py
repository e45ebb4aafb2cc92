"""Calibration metrics against hand computations and scipy."""

import math

import numpy as np
import pytest
import scipy.stats
import torch

from pyro_local.diagnostics import calibration_summary
from pyro_local.diagnostics.calibration import (
    brier_score,
    expected_calibration_error,
    gaussian_nll,
    negative_log_likelihood,
    reliability_diagram,
)

PROBS = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.25, 0.25, 0.5], [0.9, 0.05, 0.05]],
                     dtype=torch.float64)
LABELS = torch.tensor([0, 2, 2, 1])


def test_nll_and_brier_by_hand():
    nll = -(math.log(0.7) + math.log(0.3) + math.log(0.5) + math.log(0.05)) / 4
    assert negative_log_likelihood(PROBS, LABELS) == pytest.approx(nll)
    brier = ((0.3**2 + 0.2**2 + 0.1**2) + (0.1**2 + 0.6**2 + 0.7**2)
             + (0.25**2 + 0.25**2 + 0.5**2) + (0.9**2 + 0.95**2 + 0.05**2)) / 4
    assert brier_score(PROBS, LABELS) == pytest.approx(brier)


def test_ece_by_hand():
    # Confidences 0.7, 0.6, 0.5, 0.9 with 2 bins (0, 0.5], (0.5, 1]: 0.5 sits on an edge
    # and goes to the lower bin. Bin 0: {0.5, correct}; bin 1: {0.7 ok, 0.6 wrong, 0.9 wrong}.
    ece, diagram = expected_calibration_error(PROBS, LABELS, num_bins=2)
    expected = 1 / 4 * abs(1 - 0.5) + 3 / 4 * abs(1 / 3 - (0.7 + 0.6 + 0.9) / 3)
    assert ece == pytest.approx(expected)
    np.testing.assert_array_equal(diagram.count, [1, 3])
    np.testing.assert_allclose(diagram.accuracy, [1.0, 1 / 3])
    np.testing.assert_allclose(diagram.confidence, [0.5, 2.2 / 3])
    np.testing.assert_allclose(diagram.edges, [0.0, 0.5, 1.0])


def test_perfectly_calibrated_predictions_have_small_ece():
    # Labels drawn from the predicted probabilities: ECE is only sampling noise. Each of
    # the 15 bins' gap has standard error sqrt(acc (1 - acc) / n_b) <= 0.5 / sqrt(n_b),
    # so ECE <= sum_b (n_b / N) * 4 * 0.5 / sqrt(n_b) bounds it at 4 standard errors.
    generator = torch.Generator().manual_seed(0)
    probs = torch.softmax(2 * torch.randn(20000, 4, generator=generator), -1).double()
    labels = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    ece, diagram = expected_calibration_error(probs, labels)
    n = diagram.count.double()
    bound = float((n / n.sum() * 2 / n.clamp(min=1).sqrt()).sum())
    assert ece < bound
    # Always predicting the wrong class with confidence 1 gives ECE 1.
    wrong = torch.nn.functional.one_hot((labels + 1) % 4, 4).double()
    assert expected_calibration_error(wrong, labels)[0] == pytest.approx(1.0)


def test_empty_bins_are_nan_and_summary_collects_all():
    diagram = reliability_diagram(PROBS, LABELS)
    assert int(diagram.count.sum()) == 4 and diagram.count.numel() == 15
    assert torch.isnan(diagram.accuracy[diagram.count == 0]).all()
    summary = calibration_summary(PROBS, LABELS)
    assert summary.accuracy == pytest.approx(0.5)
    assert summary.nll == pytest.approx(negative_log_likelihood(PROBS, LABELS))


def test_gaussian_nll_matches_scipy():
    rng = np.random.default_rng(0)
    loc, scale, y = rng.normal(size=5), rng.uniform(0.5, 2, size=5), rng.normal(size=5)
    t = [torch.tensor(a) for a in (loc, scale, y)]
    expected = -scipy.stats.norm(loc, scale).logpdf(y).mean()
    assert gaussian_nll(*t) == pytest.approx(expected)
    # With draws: the predictive is the equal mixture over draws.
    locs = rng.normal(size=(3, 5))
    mixture = np.mean([scipy.stats.norm(m, scale).pdf(y) for m in locs], axis=0)
    got = gaussian_nll(torch.tensor(locs), torch.tensor(scale), torch.tensor(y))
    assert got == pytest.approx(-np.log(mixture).mean())


@pytest.mark.parametrize("call,error,match", [
    (lambda: negative_log_likelihood(PROBS.numpy(), LABELS), TypeError, "probs"),
    (lambda: negative_log_likelihood(PROBS * 2, LABELS), ValueError, "summing to 1"),
    (lambda: negative_log_likelihood(-PROBS, LABELS), ValueError, "non-negative"),
    (lambda: negative_log_likelihood(PROBS[0], LABELS), ValueError, "probs"),
    (lambda: brier_score(PROBS, LABELS.double()), TypeError, "labels"),
    (lambda: brier_score(PROBS, LABELS[:3]), ValueError, "labels"),
    (lambda: brier_score(PROBS, LABELS + 3), ValueError, "class indices"),
    (lambda: reliability_diagram(PROBS, LABELS, num_bins=0), ValueError, "num_bins"),
    (lambda: gaussian_nll(torch.zeros(3), torch.zeros(3), torch.zeros(3)), ValueError, "scale"),
    (lambda: gaussian_nll(torch.zeros(2, 4), torch.ones(1), torch.zeros(3)), ValueError, "loc"),
    (lambda: gaussian_nll(torch.zeros(3), torch.ones(2), torch.zeros(3)), ValueError, "scale"),
])
def test_bad_inputs(call, error, match):
    with pytest.raises(error, match=match):
        call()
