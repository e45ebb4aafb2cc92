"""Held-out predictions of a classifier, kept in the InferenceData beside the fit.

The report's predictive performance, calibration, per-class checks and
out-of-distribution detection all come from the posterior predictive on data the fit
did not see. :func:`held_out_dataset` reduces ``(S, N, C)`` draws of class
probabilities to what those need (the predictive probabilities, the labels, the
predictive entropy and mutual information per input, the same for each
out-of-distribution set) and :func:`add_held_out` stores it as the group
``held_out`` of an InferenceData, so that it is saved with it and a report can be
rebuilt from the file alone.
"""

from __future__ import annotations

import numpy as np
import torch

from .uncertainty import mutual_information, ood_auroc, predictive_entropy

__all__ = ["GROUP", "add_held_out", "held_out_dataset", "ood_scores"]

GROUP = "held_out"


def _check_draws(draws, name):
    if not torch.is_tensor(draws) or draws.dim() != 3:
        raise ValueError(f"{name}: expected a (S, N, C) tensor of class probabilities, got "
                         f"{type(draws).__name__} {tuple(getattr(draws, 'shape', ()))}")
    return draws.detach().double().cpu()


def held_out_dataset(draw_probs, labels, ood_draw_probs=None, name="test data"):
    """The ``held_out`` group of a classifier's posterior predictive on held-out data.

    :param torch.Tensor draw_probs: ``(S, N, C)`` class probabilities under S posterior
        draws.
    :param torch.Tensor labels: ``(N,)`` true classes.
    :param dict ood_draw_probs: ``{set name: (S, M, C)}`` for out-of-distribution inputs.
    :param str name: what the held-out data are (shown in the report).
    :rtype: xarray.Dataset
    """
    import xarray as xr

    draws = _check_draws(draw_probs, "draw_probs")
    labels = torch.as_tensor(labels).cpu()
    if labels.shape != draws.shape[1:2]:
        raise ValueError(f"labels: expected shape ({draws.shape[1]},), got {tuple(labels.shape)}")
    probs = draws.mean(0)
    data = {
        "probs": (("point", "class"), probs.numpy()),
        "label": (("point",), labels.long().numpy()),
        "entropy": (("point",), predictive_entropy(probs).numpy()),
        "mutual_information": (("point",), mutual_information(draws).numpy()),
    }
    for set_name, ood in (ood_draw_probs or {}).items():
        ood = _check_draws(ood, f"ood_draw_probs[{set_name!r}]")
        dim = f"{set_name}_point"
        data[f"entropy_{set_name}"] = ((dim,), predictive_entropy(ood.mean(0)).numpy())
        data[f"mutual_information_{set_name}"] = ((dim,), mutual_information(ood).numpy())
    attrs = {"name": name, "num_draws": int(draws.shape[0]),
             "ood_sets": ",".join(ood_draw_probs or {})}
    return xr.Dataset(data, attrs=attrs)


def add_held_out(idata, draw_probs, labels, ood_draw_probs=None, name="test data"):
    """Stores held-out predictions as ``idata``'s ``held_out`` group (replacing one
    already there) and returns ``idata``: the predictive probabilities, the labels, the
    predictive entropy and mutual information per input, the same for each
    out-of-distribution set.

    :param arviz.InferenceData idata: a fit, e.g. from :func:`to_inference_data`.
    :param torch.Tensor draw_probs: ``(S, N, C)`` class probabilities per draw on the
        test data.
    :param torch.Tensor labels: ``(N,)`` true classes.
    :param dict ood_draw_probs: name -> ``(S, M, C)`` probabilities on an
        out-of-distribution set, or ``None``.
    :param str name: what the test data is, for the report.
    :rtype: arviz.InferenceData
    """
    dataset = held_out_dataset(draw_probs, labels, ood_draw_probs, name)
    if GROUP in idata.groups():
        del idata[GROUP]
    idata.add_groups({GROUP: dataset})
    return idata


def ood_scores(held_out):
    """Per out-of-distribution set: the AUROC of telling it from the held-out inputs by
    predictive entropy and by mutual information.

    :param xarray.Dataset held_out: the ``held_out`` group.
    :returns: ``{set name: {"entropy": auroc, "mutual_information": auroc}}``.
    """
    names = [n for n in str(held_out.attrs.get("ood_sets", "")).split(",") if n]
    out = {}
    for set_name in names:
        out[set_name] = {
            score: ood_auroc(torch.as_tensor(np.asarray(held_out[score].values)),
                             torch.as_tensor(np.asarray(held_out[f"{score}_{set_name}"].values)))
            for score in ("entropy", "mutual_information")
        }
    return out
