"""Predictive uncertainty: entropy, its epistemic part, and out-of-distribution AUROC.

For S posterior draws of class probabilities p_s(y | x), the predictive entropy
H[mean_s p_s] splits into the expected entropy mean_s H[p_s] (aleatoric) and the
mutual information between label and parameters (epistemic),

    I(y; theta | x) = H[mean_s p_s] - mean_s H[p_s]  >= 0.

A good uncertainty score is larger on out-of-distribution inputs; :func:`ood_auroc`
measures how well it separates them from in-distribution ones.
"""

from __future__ import annotations

import torch

from .calibration import check_probs

__all__ = ["mutual_information", "ood_auroc", "predictive_entropy"]


def _entropy(probs):
    # 0 log 0 = 0.
    p = probs.double()
    return -torch.where(p > 0, p * p.log(), torch.zeros_like(p)).sum(-1)


def predictive_entropy(probs):
    """Entropy in nats of the class probabilities along the last dimension.

    :param torch.Tensor probs: ``(..., C)`` probabilities.
    :returns: ``probs.shape[:-1]`` float64 entropies.
    :rtype: torch.Tensor
    """
    return _entropy(check_probs(probs, min_dim=1))


def mutual_information(draw_probs):
    """Mutual information between label and parameters, per input, in nats.

    :param torch.Tensor draw_probs: ``(S, ..., C)`` class probabilities under S
        posterior draws.
    :returns: ``draw_probs.shape[1:-1]`` float64 values, clamped at 0 against rounding.
    :rtype: torch.Tensor
    """
    draw_probs = check_probs(draw_probs, "draw_probs", min_dim=2)
    total = _entropy(draw_probs.double().mean(0))
    expected = _entropy(draw_probs).mean(0)
    return (total - expected).clamp(min=0)


def _check_scores(scores, name):
    if not torch.is_tensor(scores) or scores.dim() != 1 or scores.numel() == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D torch.Tensor of scores")
    if torch.isnan(scores.double()).any():
        raise ValueError(f"{name}: expected no NaN scores")
    return scores.double()


def ood_auroc(score_in, score_out):
    """Area under the ROC curve for telling out-of-distribution inputs by a score.

    It is the probability that a random out-of-distribution input scores higher than a
    random in-distribution one, ties counting one half: the Mann-Whitney U statistic of
    ``score_out`` over ``n_in * n_out``, computed exactly from mid-ranks.

    :param torch.Tensor score_in: ``(n_in,)`` scores (e.g. predictive entropy) of
        in-distribution inputs.
    :param torch.Tensor score_out: ``(n_out,)`` scores of out-of-distribution inputs.
    :rtype: float

    Example::

        >>> ood_auroc(torch.tensor([0.1, 0.2, 0.5]), torch.tensor([0.5, 0.9]))
        0.9166666666666666
    """
    score_in = _check_scores(score_in, "score_in")
    score_out = _check_scores(score_out, "score_out")
    pooled = torch.cat([score_in, score_out])
    _, inverse, counts = torch.unique(pooled, sorted=True, return_inverse=True,
                                      return_counts=True)
    last = counts.cumsum(0).double()
    mid_rank = last - (counts.double() - 1) / 2
    n_in, n_out = score_in.numel(), score_out.numel()
    rank_sum = mid_rank[inverse[n_in:]].sum()
    u = rank_sum - n_out * (n_out + 1) / 2
    return float(u / (n_in * n_out))
