"""Evaluating and reporting the built-in classifiers: predictive metrics, OOD, calibration."""

from __future__ import annotations

import torch

from .config import EVAL_BATCH, RunConfig

#: Test images that ``evaluate``'s two out-of-distribution sets are made from.
OOD_POINTS = 2000


def _predict(built, x, num_samples, bar=None):
    """``built.predict`` in chunks of :data:`~pyro_local.cli.config.EVAL_BATCH` inputs,
    advancing ``bar``."""
    out = []
    for start in range(0, len(x), EVAL_BATCH):
        out.append(built.predict(x[start : start + EVAL_BATCH], num_samples))
        if bar is not None:
            bar.update(min(EVAL_BATCH, len(x) - start))
    return torch.cat(out, 1)


def _held_out_draws(cfg: RunConfig, built, test, ood_points, progress=False):
    """Posterior predictive draws on the test images and on two out-of-distribution
    sets made from the first ``ood_points`` of them (flipped, and noise)."""
    from tqdm.auto import tqdm

    from ..diagnostics.classification import ood_images

    images, _ = test
    ood = ood_images(images[:ood_points], seed=cfg.seed)
    total = len(images) + sum(len(x) for x in ood.values())
    with torch.no_grad(), tqdm(total=total, unit="image", desc="held-out predictions",
                               disable=not progress, leave=False) as bar:
        draws = _predict(built, images, cfg.num_samples, bar)
        ood_draws = {name: _predict(built, x, cfg.num_samples, bar) for name, x in ood.items()}
    return draws, ood_draws


def classifier_hooks(cfg: RunConfig, built):
    """
    ``(evaluate, report)`` of a built-in classifier (see
    :class:`~pyro_local.cli.jobs.Job`). ``evaluate(test)``: accuracy, NLL, ECE, Brier
    and OOD AUROC on the test set (OOD sets from its first :data:`OOD_POINTS` images).
    ``report(idata, test, sizes, progress)``: the same metrics, and the held-out
    predictions stored as ``idata``'s ``held_out`` group (calibration, per-class
    checks and OOD detection in the report; OOD sets from half as many images).
    """
    from ..diagnostics import add_held_out, classifier_metrics

    def evaluate(test):
        draws, ood_draws = _held_out_draws(cfg, built, test, OOD_POINTS)
        return classifier_metrics(draws, test[1], ood_draws)

    def report(idata, test, sizes, progress):
        images, labels = test
        sizes["report OOD points"] = ood_points = max(1, len(labels) // 2)
        draws, ood_draws = _held_out_draws(cfg, built, test, ood_points, progress)
        add_held_out(idata, draws, labels, ood_draws,
                     name=f"first {len(labels)} {cfg.dataset} test images")
        return classifier_metrics(draws, labels, ood_draws), {}

    return evaluate, report
