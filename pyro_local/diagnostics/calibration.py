"""Calibration of predictive probabilities: NLL, Brier score, ECE and reliability data.

All functions take predictive class probabilities ``probs`` of shape ``(N, C)`` (for a
Bayesian model, the average over posterior draws) and integer ``labels`` of shape
``(N,)``, and return averages over the N points. For regression,
:func:`gaussian_nll` scores Gaussian predictive distributions.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .._checks import check_int

__all__ = ["CalibrationGap", "CalibrationSummary", "ReliabilityDiagram", "brier_score",
           "calibration_gap", "calibration_summary", "expected_calibration_error",
           "gaussian_nll", "negative_log_likelihood"]


def check_probs(probs, name="probs", min_dim=2):
    """Checks that ``probs`` is a float tensor of probabilities over its last dimension.

    Rows must sum to one to within 1e-4 (or 10 machine epsilons of a coarser dtype), which
    lets float32 softmax outputs through even after a cast to float64.
    """
    if not torch.is_tensor(probs) or not probs.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point torch.Tensor, got {type(probs)}")
    if probs.dim() < min_dim:
        raise ValueError(
            f"{name}: expected at least {min_dim} dims (..., C), got shape {tuple(probs.shape)}"
        )
    if (probs < 0).any() or torch.isnan(probs).any():
        raise ValueError(f"{name}: expected non-negative probabilities")
    tol = max(1e-4, 10 * torch.finfo(probs.dtype).eps)
    if ((probs.sum(-1) - 1).abs() > tol).any():
        raise ValueError(f"{name}: expected rows summing to 1 (to within {tol:.1e})")
    return probs


def _check_labels(labels, probs):
    if not torch.is_tensor(labels) or labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(f"labels: expected an integer torch.Tensor, got {type(labels)}")
    if labels.shape != probs.shape[:-1]:
        raise ValueError(
            f"labels: expected shape {tuple(probs.shape[:-1])} to match probs, got "
            f"{tuple(labels.shape)}"
        )
    if ((labels < 0) | (labels >= probs.shape[-1])).any():
        raise ValueError(f"labels: expected class indices in [0, {probs.shape[-1]})")
    return labels


def negative_log_likelihood(probs, labels):
    """Mean negative log predictive probability of the true class, in nats.

    :param torch.Tensor probs: ``(N, C)`` predictive probabilities.
    :param torch.Tensor labels: ``(N,)`` true classes.
    :rtype: float
    """
    probs = check_probs(probs)
    labels = _check_labels(labels, probs)
    picked = probs.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    return float(-picked.double().log().mean())


def brier_score(probs, labels):
    """Mean over points of sum_c (p_c - [y = c])^2 (Brier's multi-class score, in [0, 2]).

    :param torch.Tensor probs: ``(N, C)`` predictive probabilities.
    :param torch.Tensor labels: ``(N,)`` true classes.
    :rtype: float
    """
    probs = check_probs(probs)
    labels = _check_labels(labels, probs)
    onehot = torch.nn.functional.one_hot(labels, probs.shape[-1]).to(torch.float64)
    return float((probs.double() - onehot).pow(2).sum(-1).mean())


def gaussian_nll(loc, scale, target):
    """Mean negative log density of ``target`` under Gaussian predictive distributions.

    With ``loc`` and ``scale`` of the shape of ``target``, each point's predictive is
    N(loc, scale^2). With an extra leading dimension of S posterior draws, it is the
    equal-weight mixture of the S Gaussians (the posterior predictive).

    :param torch.Tensor loc: predictive means, ``target.shape`` or ``(S, *target.shape)``.
    :param torch.Tensor scale: predictive standard deviations, broadcastable to ``loc``.
    :param torch.Tensor target: observed values.
    :rtype: float
    """
    for name, t in (("loc", loc), ("scale", scale), ("target", target)):
        if not torch.is_tensor(t) or not t.is_floating_point():
            raise TypeError(f"{name}: expected a floating-point torch.Tensor, got {type(t)}")
    mixture = loc.dim() == target.dim() + 1 and loc.shape[1:] == target.shape
    if loc.shape != target.shape and not mixture:
        raise ValueError(
            f"loc: expected shape {tuple(target.shape)} or (S, *{tuple(target.shape)}), got "
            f"{tuple(loc.shape)}"
        )
    try:
        scale = scale.expand(loc.shape)
    except RuntimeError as err:
        raise ValueError(
            f"scale: expected a shape broadcastable to loc's {tuple(loc.shape)}, got "
            f"{tuple(scale.shape)}"
        ) from err
    if (scale <= 0).any():
        raise ValueError("scale: expected positive standard deviations")
    scale = scale.double()
    z = (target.double() - loc.double()) / scale
    log_density = -0.5 * z.pow(2) - scale.log() - 0.5 * math.log(2 * math.pi)
    if mixture:
        log_density = log_density.logsumexp(0) - math.log(loc.shape[0])
    return float(-log_density.mean())


class ReliabilityDiagram(NamedTuple):
    """Data of a reliability diagram with equal-width confidence bins.

    :ivar torch.Tensor edges: ``(B + 1,)`` bin edges from 0 to 1; bin b is
        (edges[b], edges[b + 1]], the first bin also holding 0.
    :ivar torch.Tensor confidence: ``(B,)`` mean confidence in each bin (NaN if empty).
    :ivar torch.Tensor accuracy: ``(B,)`` accuracy in each bin (NaN if empty).
    :ivar torch.Tensor count: ``(B,)`` number of points in each bin.
    """

    edges: torch.Tensor
    confidence: torch.Tensor
    accuracy: torch.Tensor
    count: torch.Tensor


def reliability_diagram(probs, labels, num_bins=15):
    """Bins points by confidence (the largest predictive probability).

    :param torch.Tensor probs: ``(N, C)`` predictive probabilities.
    :param torch.Tensor labels: ``(N,)`` true classes.
    :param int num_bins: number of equal-width bins on [0, 1].
    :rtype: ReliabilityDiagram
    """
    probs = check_probs(probs)
    labels = _check_labels(labels, probs)
    check_int(num_bins, "num_bins")
    confidence, prediction = probs.double().reshape(-1, probs.shape[-1]).max(-1)
    correct = (prediction == labels.reshape(-1)).double()
    edges = torch.linspace(0, 1, num_bins + 1, dtype=torch.float64)
    # Right-closed bins (edges[b], edges[b + 1]]; a confidence on an edge joins the lower bin.
    index = (torch.searchsorted(edges, confidence) - 1).clamp(0, num_bins - 1)
    count = torch.bincount(index, minlength=num_bins)
    conf_sum = torch.bincount(index, confidence, minlength=num_bins)
    correct_sum = torch.bincount(index, correct, minlength=num_bins)
    safe = count.clamp(min=1).double()
    empty = count == 0
    return ReliabilityDiagram(
        edges=edges,
        confidence=(conf_sum / safe).masked_fill(empty, torch.nan),
        accuracy=(correct_sum / safe).masked_fill(empty, torch.nan),
        count=count,
    )


def _ece(diagram):
    filled = diagram.count > 0
    weight = diagram.count[filled].double() / diagram.count.sum()
    gap = (diagram.accuracy[filled] - diagram.confidence[filled]).abs()
    return float((weight * gap).sum())


def expected_calibration_error(probs, labels, num_bins=15):
    """Expected calibration error: sum_b (n_b / N) |accuracy_b - confidence_b| over
    equal-width confidence bins (Guo et al. 2017).

    :param torch.Tensor probs: ``(N, C)`` predictive probabilities.
    :param torch.Tensor labels: ``(N,)`` true classes.
    :param int num_bins: number of bins.
    :returns: the ECE and the reliability-diagram data it came from.
    :rtype: tuple(float, ReliabilityDiagram)
    """
    diagram = reliability_diagram(probs, labels, num_bins)
    return _ece(diagram), diagram


class CalibrationGap(NamedTuple):
    """The ECE split by direction, with the ECE a calibrated model would show by chance.

    :ivar float over: sum over bins of (n_b / N) max(confidence_b - accuracy_b, 0): the
        overconfident part of the ECE.
    :ivar float under: the same with accuracy above confidence: the underconfident part.
    :ivar float noise: expected ECE of a perfectly calibrated model with these bins and
        confidences, sum_b (n_b / N) sqrt(2 / pi) sqrt(c_b (1 - c_b) / n_b): in a bin
        of n_b points of confidence c_b a calibrated model's accuracy has standard
        deviation at most sqrt(c_b (1 - c_b) / n_b), and E|N(0, s^2)| = s sqrt(2 / pi).
    """

    over: float
    under: float
    noise: float

    @property
    def ece(self):
        """The expected calibration error, over + under."""
        return self.over + self.under


def calibration_gap(diagram):
    """The :class:`CalibrationGap` of a :class:`ReliabilityDiagram`."""
    filled = diagram.count > 0
    n = diagram.count[filled].double()
    weight = n / n.sum()
    gap = diagram.confidence[filled] - diagram.accuracy[filled]
    c = diagram.confidence[filled]
    noise = weight * math.sqrt(2 / math.pi) * (c * (1 - c) / n).sqrt()
    return CalibrationGap(float((weight * gap.clamp(min=0)).sum()),
                          float((weight * (-gap).clamp(min=0)).sum()), float(noise.sum()))


class CalibrationSummary(NamedTuple):
    """Classification metrics of one set of predictions (all averages over points).

    :ivar float accuracy: share of points whose most probable class is the label.
    :ivar float nll: negative log predictive probability of the label.
    :ivar float brier: Brier score.
    :ivar float ece: expected calibration error over the diagram's bins.
    :ivar diagram: the reliability diagram (equal-width confidence bins): ``edges``
        ``(B + 1,)``, and per bin the mean ``confidence``, the ``accuracy`` and the
        ``count`` of points, each ``(B,)``.
    """

    accuracy: float
    nll: float
    brier: float
    ece: float
    diagram: ReliabilityDiagram


def calibration_summary(probs, labels, num_bins=15):
    """Accuracy, NLL, Brier score and ECE with its reliability diagram, in one record.

    :rtype: CalibrationSummary
    """
    ece, diagram = expected_calibration_error(probs, labels, num_bins)
    accuracy = float((probs.argmax(-1) == labels).double().mean())
    return CalibrationSummary(accuracy, negative_log_likelihood(probs, labels),
                              brier_score(probs, labels), ece, diagram)
