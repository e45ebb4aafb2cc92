"""Evaluating and reporting the built-in classifiers: predictive metrics, OOD, calibration."""

from __future__ import annotations

import torch

from .config import RunConfig


def _test_metrics(cfg: RunConfig, built, test):
    """Posterior predictive draws on the test set and on out-of-distribution images
    (the first 2000 test images flipped, and noise), and their metrics."""
    from ..diagnostics import classifier_metrics, ood_images

    images, labels = test
    ood = ood_images(images[:2000], seed=cfg.seed)
    draws = built.predict(images, cfg.num_samples)
    ood_draws = {name: built.predict(x, cfg.num_samples) for name, x in ood.items()}
    return draws, ood_draws, classifier_metrics(draws, labels, ood_draws)


def classifier_hooks(cfg: RunConfig, built):
    """
    ``(evaluate, report)`` of a built-in classifier. ``evaluate(test)``: accuracy,
    NLL, ECE, Brier and OOD AUROC on the test set. ``report(train, test, metrics)``:
    the keywords of :func:`~pyro_local.diagnostics.build_report`: PSIS k-hat and LOO
    from posterior draws on up to ``report_points`` training examples, calibration
    and out-of-distribution detection on the test set, weight-posterior scale spectra.
    The two share one set of predictive draws.
    """
    cache = {}

    def predictions(test):
        if cache.get("test") is not test:
            with torch.no_grad():
                cache["test"], cache["result"] = test, _test_metrics(cfg, built, test)
        return cache["result"]

    def evaluate(test):
        return predictions(test)[2]

    def report(train, test, metrics):
        from .. import diagnostics as diag

        draws, ood_draws, _ = predictions(test)
        probs = draws.double().mean(0)
        entropy_in = diag.predictive_entropy(probs)[:2000].cpu()
        entropy_out = diag.predictive_entropy(ood_draws["flipped"].double().mean(0)).cpu()
        idata = None
        if built.guide is not None:
            n = min(cfg.report_points, len(train[1]))
            idata = diag.to_inference_data(
                built.model, built.guide, train[0][:n], train[1][:n],
                num_samples=cfg.report_draws, obs_sites=[built.label_site],
                history=built.svi.history,
            )
        return {
            "idata": idata,
            "history": None if idata is not None else built.svi.history,
            "calibration": diag.calibration_summary(probs.cpu(), test[1].cpu()),
            "ood": (entropy_in, entropy_out,
                    "predictive entropy (nats), test images vs flipped"),
            "weight_scales": built.weight_scales() if built.weight_scales else None,
        }

    return evaluate, report
