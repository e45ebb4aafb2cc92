"""Leave-one-out cross-validation from a variational approximation.

With draws theta_s ~ q instead of the posterior, the leave-one-out posterior
p(theta | x_{-i}) is reached by importance sampling from q with ratios

    r_is = p(x, theta_s) / (q(theta_s) p(x_i | theta_s)),

Pareto-smoothed (PSIS) for each point i, as in Magnusson, Andersen, Jonasson and
Vehtari (2019), "Bayesian leave-one-out cross-validation for large data". Then

    elpd_loo = sum_i log sum_s w_is p(x_i | theta_s)

with the smoothed, normalised weights w_is. ``p_loo`` is lpd - elpd_loo, where lpd
uses the same correction from q to the full posterior (ratios p(x, theta) / q(theta)).
Each point's k-hat reads like any PSIS k-hat; the k-hat of the full-data ratios says
whether q is close enough to the posterior for any of this to work.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .psis import PSISResult, psis, select_chain

__all__ = ["LooResult", "loo_from_arrays", "variational_loo"]


class LooResult(NamedTuple):
    """PSIS-LOO estimate from a variational approximation.

    :ivar float elpd_loo: expected log pointwise predictive density, summed over points.
    :ivar float se: its standard error over points, sqrt(n var_i(elpd_i)).
    :ivar float p_loo: effective number of parameters, lpd - elpd_loo.
    :ivar float mcse: bound on the Monte Carlo standard error of ``elpd_loo``: the sum
        over points of each point's delta-method error of its self-normalised estimate
        (a sum, so that it holds whatever the correlation between points).
    :ivar numpy.ndarray pointwise: elpd_i per point.
    :ivar numpy.ndarray pointwise_mcse: delta-method Monte Carlo error of each elpd_i.
    :ivar numpy.ndarray khat: Pareto k-hat per point.
    :ivar PSISResult proposal: PSIS of the full-data ratios p(x, theta) / q(theta).
    """

    elpd_loo: float
    se: float
    p_loo: float
    mcse: float
    pointwise: np.ndarray
    pointwise_mcse: np.ndarray
    khat: np.ndarray
    proposal: PSISResult

    @property
    def num_unreliable(self):
        """Number of points whose k-hat exceeds 0.7."""
        return int(np.sum(~(self.khat <= 0.7)))

    def __str__(self):
        return (
            f"elpd_loo = {self.elpd_loo:.2f} (SE {self.se:.2f}, Monte Carlo error at most "
            f"{self.mcse:.2f}), p_loo = {self.p_loo:.2f}; {self.num_unreliable} of "
            f"{self.khat.size} points with k-hat > 0.7."
        )


def _weighted_log_mean(log_w, log_lik):
    """log sum_s w_s p_s and the delta-method standard error of that log.

    For the self-normalised estimate E = sum_s w_s p_s, Var(E) ~ sum_s w_s^2 (p_s - E)^2.
    """
    m = log_lik.max()
    p = np.exp(log_lik - m)
    w = np.exp(log_w)
    estimate = np.sum(w * p)
    se = np.sqrt(np.sum(w**2 * (p - estimate) ** 2)) / estimate
    return m + np.log(estimate), se


def loo_from_arrays(log_joint, log_q, log_lik):
    """PSIS-LOO from draws of q (see the module docstring).

    :param log_joint: ``(S,)`` log p(x, theta_s) of the whole data set.
    :param log_q: ``(S,)`` log q(theta_s).
    :param log_lik: ``(S, N)`` pointwise log p(x_i | theta_s).
    :rtype: LooResult
    """
    log_joint = np.asarray(log_joint, dtype=np.float64)
    log_q = np.asarray(log_q, dtype=np.float64)
    log_lik = np.asarray(log_lik, dtype=np.float64)
    if log_joint.ndim != 1 or log_q.shape != log_joint.shape:
        raise ValueError(
            f"log_joint, log_q: expected two arrays of shape (S,), got {log_joint.shape} and "
            f"{log_q.shape}"
        )
    if log_lik.ndim != 2 or log_lik.shape[0] != log_joint.size:
        raise ValueError(
            f"log_lik: expected shape ({log_joint.size}, N), got {log_lik.shape}"
        )
    if not np.isfinite(log_lik).all():
        raise ValueError("log_lik: expected finite pointwise log-likelihoods")
    log_ratio = log_joint - log_q
    full_weights, proposal = psis(log_ratio)
    n = log_lik.shape[1]
    elpd, lpd, mcse, khat = (np.empty(n) for _ in range(4))
    for i in range(n):
        weights, result = psis(log_ratio - log_lik[:, i])
        elpd[i], mcse[i] = _weighted_log_mean(weights, log_lik[:, i])
        lpd[i], _ = _weighted_log_mean(full_weights, log_lik[:, i])
        khat[i] = result.khat
    return LooResult(
        elpd_loo=float(elpd.sum()),
        se=float(np.sqrt(n * np.var(elpd))),
        p_loo=float(lpd.sum() - elpd.sum()),
        mcse=float(mcse.sum()),
        pointwise=elpd,
        pointwise_mcse=mcse,
        khat=khat,
        proposal=proposal,
    )


def variational_loo(idata, chain=None, var_names=None):
    """PSIS-LOO of a fit exported by
    :func:`~pyro_local.diagnostics.inference_data.to_inference_data`.

    Every element of every selected ``log_likelihood`` variable counts as one point.

    :param arviz.InferenceData idata: with ``log_likelihood`` and ``sample_stats``.
    :param int chain: which fit; may be left out when there is only one.
    :param var_names: observed sites to use (default: all).
    :rtype: LooResult
    """
    index, stats = select_chain(idata, chain, ("log_joint", "log_q"))
    if "log_likelihood" not in idata.groups():
        raise ValueError("idata: expected a log_likelihood group")
    log_lik = idata.log_likelihood.isel(chain=index)
    names = list(log_lik.data_vars) if var_names is None else list(var_names)
    unknown = [n for n in names if n not in log_lik.data_vars]
    if unknown or not names:
        raise ValueError(
            f"var_names: expected names among {list(log_lik.data_vars)}, got {names}"
        )
    columns = [
        log_lik[name].values.reshape(log_lik.sizes["draw"], -1) for name in names
    ]
    return loo_from_arrays(
        stats["log_joint"].values, stats["log_q"].values, np.concatenate(columns, axis=1)
    )
