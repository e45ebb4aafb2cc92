"""Entropy, mutual information and OOD AUROC against hand computations and scipy."""

import math

import numpy as np
import pytest
import scipy.stats
import torch

from pyro_local.diagnostics.uncertainty import mutual_information, ood_auroc, predictive_entropy


def test_entropy_known_values():
    probs = torch.tensor([[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
    np.testing.assert_allclose(predictive_entropy(probs), [math.log(4), 0.0, math.log(2)],
                               atol=1e-7)


def test_mutual_information_known_values():
    # Draws that agree carry no epistemic uncertainty; two confident draws that disagree
    # on a binary label carry log 2 nats of it (total log 2, expected 0).
    same = torch.tensor([[0.3, 0.7]]).expand(5, 1, 2)
    disagree = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
    assert mutual_information(same).item() == pytest.approx(0.0, abs=1e-12)
    assert mutual_information(disagree).item() == pytest.approx(math.log(2))
    # In general: entropy of the mean minus mean of the entropies.
    draws = torch.softmax(torch.randn(7, 3, 4, dtype=torch.float64), -1)
    expected = predictive_entropy(draws.mean(0)) - predictive_entropy(draws).mean(0)
    torch.testing.assert_close(mutual_information(draws), expected)


def test_auroc_with_ties_matches_pairs_and_scipy():
    rng = np.random.default_rng(0)
    score_in = rng.integers(0, 6, size=40).astype(float)  # many ties
    score_out = rng.integers(2, 8, size=25).astype(float)
    pairs = (score_out[:, None] > score_in[None, :]) + 0.5 * (score_out[:, None] == score_in)
    got = ood_auroc(torch.tensor(score_in), torch.tensor(score_out))
    assert got == pytest.approx(pairs.mean())
    u = scipy.stats.mannwhitneyu(score_out, score_in).statistic
    assert got == pytest.approx(u / (40 * 25))


def test_auroc_extremes():
    a, b = torch.tensor([0.1, 0.2]), torch.tensor([0.3, 0.4, 0.5])
    assert ood_auroc(a, b) == 1.0 and ood_auroc(b, a) == 0.0
    assert ood_auroc(torch.ones(3), torch.ones(4)) == 0.5


@pytest.mark.parametrize("call,match", [
    (lambda: ood_auroc(torch.tensor([]), torch.ones(2)), "score_in"),
    (lambda: ood_auroc(torch.ones(2), torch.ones(2, 1)), "score_out"),
    (lambda: ood_auroc(torch.ones(2), torch.tensor([float("nan")])), "NaN"),
    (lambda: mutual_information(torch.ones(3)), "draw_probs"),
    (lambda: predictive_entropy(torch.tensor([0.5, 0.6])), "summing to 1"),
])
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()
