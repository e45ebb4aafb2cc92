"""Predictive checks that fit the type of the data.

- **Categorical** data (classifiers): the count of each class in the data against its
  distribution in data sets replicated from the posterior predictive
  (:func:`class_frequency_check`); per-class accuracy, the confusion matrix and each
  class's one-vs-rest calibration on held-out data (:func:`per_class`).
- **Binary and continuous** data: the mean of each feature over the data points against
  its replicated distribution (:func:`feature_mean_check`); the LOO probability integral
  transform (:func:`binary_loo_pit`, :func:`continuous_loo_pit`), uniform when the
  leave-one-out predictive is calibrated.

Posterior predictive p-values here are two-sided: 2 min(P(T_rep >= T_obs),
P(T_rep <= T_obs)), capped at 1.
"""

from __future__ import annotations

import numpy as np
import torch

from .calibration import calibration_gap, reliability_diagram

__all__ = ["binary_loo_pit", "class_frequency_check", "continuous_loo_pit", "data_kind",
           "feature_mean_check", "has_local_latents", "per_class", "two_sided_pvalue"]

_CATEGORICAL = {"Categorical", "OneHotCategorical"}
_BINARY = {"Bernoulli", "ContinuousBernoulli"}


def data_kind(idata, name):
    """``"categorical"``, ``"binary"`` or ``"continuous"`` for observed site ``name``: from
    the ``distribution`` attribute the export records, else from the values."""
    values = np.asarray(idata.observed_data[name].values)
    distribution = idata.observed_data[name].attrs.get("distribution")
    if distribution in _CATEGORICAL:
        return "categorical"
    if distribution in _BINARY:
        return "binary"
    if distribution is None and np.all(values == np.round(values)):
        return "binary" if set(np.unique(values)) <= {0, 1} else "categorical"
    return "continuous"


def has_local_latents(idata, name):
    """Whether some latent site shares a plate (dimension name) with observed site
    ``name``: per-datum latents, fitted to each point itself."""
    obs_dims = set(idata.observed_data[name].dims)
    for group in ("posterior", "posterior_summary"):
        if group in idata.groups():
            for var in idata[group].data_vars.values():
                if obs_dims & set(var.dims):
                    return True
    return False


def two_sided_pvalue(t_obs, t_rep):
    """Two-sided posterior predictive p-values of statistics ``t_obs`` (``(...)``)
    against their replicates ``t_rep`` (``(R, ...)``)."""
    t_rep = np.asarray(t_rep, dtype=float)
    above = np.mean(t_rep >= t_obs, axis=0)
    below = np.mean(t_rep <= t_obs, axis=0)
    return np.minimum(1.0, 2 * np.minimum(above, below))


def class_frequency_check(observed, replicated, num_classes=None):
    """Counts of each class, observed and in each replicated data set.

    :param observed: ``(N,)`` observed classes.
    :param replicated: ``(R, N)`` replicated classes.
    :param int num_classes: number of classes (default: the largest seen, plus one).
    :returns: observed counts ``(C,)``, replicated counts ``(R, C)``, p-values ``(C,)``.
    """
    observed = np.asarray(observed).astype(np.int64).ravel()
    replicated = np.asarray(replicated).astype(np.int64).reshape(len(replicated), -1)
    if num_classes is None:
        num_classes = int(max(observed.max(), replicated.max())) + 1
    counts = np.bincount(observed, minlength=num_classes)
    offsets = np.arange(len(replicated))[:, None] * num_classes
    rep = np.bincount((replicated + offsets).ravel(), minlength=len(replicated) * num_classes)
    rep = rep.reshape(len(replicated), num_classes)
    return counts, rep, two_sided_pvalue(counts, rep)


def feature_mean_check(observed, replicated):
    """The mean of each feature over the data points, observed and replicated.

    :param observed: ``(N, *features)`` observed data.
    :param replicated: ``(R, N, *features)`` replicated data sets.
    :returns: observed means ``(D,)``, mean replicated means ``(D,)``, p-values ``(D,)``.
    """
    observed = np.asarray(observed, dtype=float)
    replicated = np.asarray(replicated, dtype=float)
    t_obs = observed.reshape(observed.shape[0], -1).mean(0)
    t_rep = replicated.reshape(replicated.shape[0], replicated.shape[1], -1).mean(1)
    return t_obs, t_rep.mean(0), two_sided_pvalue(t_obs, t_rep)


def binary_loo_pit(observed, loo_i, seed=0):
    """Randomised LOO-PIT of binary data from the pointwise LOO log predictive density.

    The leave-one-out predictive probability of the observed value is exp(elpd_i); for
    a 0/1 outcome the randomised PIT is V exp(elpd_i) when it is 0 and
    1 - exp(elpd_i) + V exp(elpd_i) when it is 1, V ~ U(0, 1): uniform when the
    predictive is calibrated (Czado, Gneiting and Held 2009).

    :param observed: ``(N,)`` 0/1 outcomes.
    :param loo_i: ``(N,)`` pointwise elpd_loo (log scale).
    :rtype: numpy.ndarray
    """
    observed = np.asarray(observed, dtype=float).ravel()
    p = np.exp(np.asarray(loo_i, dtype=float).ravel())
    v = np.random.default_rng(seed).uniform(size=p.size)
    return np.where(observed > 0.5, 1 - p + v * p, v * p)


def continuous_loo_pit(observed, replicated, log_lik):
    """LOO-PIT of continuous data with :func:`arviz.loo_pit`, the LOO weights from the
    pointwise log-likelihood of the same draws (plug-in PSIS).

    :param observed: ``(N,)`` data.
    :param replicated: ``(R, N)`` posterior predictive draws.
    :param log_lik: ``(R, N)`` pointwise log-likelihood of those draws.
    """
    import arviz as az

    from .psis import psis_many

    log_lik = np.asarray(log_lik, dtype=float).reshape(len(log_lik), -1)
    weights, _ = psis_many(-log_lik.T)
    return np.asarray(az.loo_pit(y=np.asarray(observed, dtype=float).ravel(),
                                 y_hat=np.asarray(replicated, dtype=float).reshape(
                                     len(replicated), -1).T,
                                 log_weights=weights + log_lik.T))


def per_class(probs, labels):
    """Confusion matrix, accuracy and one-vs-rest calibration of each class.

    :param probs: ``(N, C)`` predictive probabilities.
    :param labels: ``(N,)`` true classes.
    :returns: the ``(C, C)`` confusion matrix (true by row) and, per class, a dict of
        ``count``, ``accuracy`` (recall), ``over`` and ``under`` (the one-vs-rest ECE of
        P(class) against the indicator of the class, split by direction) and ``noise``.
    """
    probs = torch.as_tensor(np.asarray(probs), dtype=torch.float64)
    labels = torch.as_tensor(np.asarray(labels)).long()
    num_classes = probs.shape[1]
    predicted = probs.argmax(-1)
    confusion = torch.bincount(labels * num_classes + predicted,
                               minlength=num_classes**2).reshape(num_classes, num_classes)
    rows = []
    for c in range(num_classes):
        mine = labels == c
        binary = torch.stack([1 - probs[:, c], probs[:, c]], -1)
        gap = calibration_gap(reliability_diagram(binary, mine.long(), 10))
        rows.append({"count": int(mine.sum()),
                     "accuracy": float((predicted[mine] == c).double().mean())
                     if mine.any() else float("nan"),
                     "over": gap.over, "under": gap.under, "noise": gap.noise})
    return confusion.numpy(), rows
