"""Held-out evaluation of a classifier from its posterior predictive draws."""

from __future__ import annotations

import torch

from .calibration import brier_score, expected_calibration_error, negative_log_likelihood
from .uncertainty import mutual_information, ood_auroc, predictive_entropy


def ood_images(images: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    """
    Two out-of-distribution sets made from in-distribution images: the images upside
    down (``"flipped"``), and images of uniform noise with each pixel drawn between
    the data's smallest and largest values (``"noise"``). Shapes and layout follow
    ``images`` (``(N, C, H, W)`` or flattened ``(N, H*W)`` of square images).

    :param torch.Tensor images: in-distribution images.
    :param int seed: seeds the noise.
    :rtype: dict
    """
    if images.dim() == 2:
        side = int(round(images.shape[1] ** 0.5))
        if side * side != images.shape[1]:
            raise ValueError(f"images: flat images must be square, got {images.shape[1]} pixels")
        grid = images.reshape(-1, 1, side, side)
    elif images.dim() == 4:
        grid = images
    else:
        raise ValueError(f"images: expected (N, C, H, W) or (N, H*W), got {tuple(images.shape)}")
    g = torch.Generator().manual_seed(seed)
    low, high = float(images.min()), float(images.max())
    noise = low + (high - low) * torch.rand(grid.shape, generator=g, dtype=images.dtype)
    return {
        "flipped": grid.flip(-2).reshape(images.shape),
        "noise": noise.to(images.device).reshape(images.shape),
    }


def classifier_metrics(draw_probs, labels, ood_draw_probs=None, num_bins=15) -> dict:
    """
    Accuracy, NLL, ECE (``num_bins`` equal-width bins), Brier score, mean predictive
    entropy and mutual information of the posterior predictive, plus, for each
    out-of-distribution set, its mean entropy and the AUROC of telling it from the
    in-distribution inputs by predictive entropy.

    :param torch.Tensor draw_probs: ``(S, N, C)`` class probabilities under ``S``
        posterior draws (``S = 1`` for a point estimate).
    :param torch.Tensor labels: ``(N,)`` true classes.
    :param dict ood_draw_probs: ``{name: (S, M, C)}`` for out-of-distribution inputs.
    :returns: a flat dict of floats.
    """
    if draw_probs.dim() != 3:
        raise ValueError(f"draw_probs: expected (S, N, C), got {tuple(draw_probs.shape)}")
    probs = draw_probs.double().mean(0)
    labels = labels.to(probs.device)
    ece, _ = expected_calibration_error(probs, labels, num_bins)
    entropy_in = predictive_entropy(probs)
    out = {
        "accuracy": float((probs.argmax(-1) == labels).double().mean()),
        "nll": float(negative_log_likelihood(probs, labels)),
        "ece": float(ece),
        "brier": float(brier_score(probs, labels)),
        "entropy": float(entropy_in.mean()),
        "mutual_information": float(mutual_information(draw_probs).mean()),
    }
    for name, draws in (ood_draw_probs or {}).items():
        entropy_out = predictive_entropy(draws.double().mean(0))
        out[f"entropy_{name}"] = float(entropy_out.mean())
        out[f"auroc_{name}"] = float(ood_auroc(entropy_in.cpu(), entropy_out.cpu()))
    return out
