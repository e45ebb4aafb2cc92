"""Leave-one-out cross-validation from a variational approximation, as ArviZ's ``ELPDData``.

Two estimates, both returned as :class:`arviz.ELPDData` (so :func:`arviz.compare` reads
them), told apart by their ``loo_method`` entry:

**importance-corrected** (``"importance-corrected"``). With draws theta_s ~ q instead of the
posterior, each leave-one-out posterior p(theta | x_{-i}) is reached from q by
importance sampling with ratios

    r_is = p(x, theta_s) / (q(theta_s) p(x_i | theta_s)),

Pareto-smoothed for each point i (Magnusson, Andersen, Jonasson and Vehtari 2019,
"Bayesian leave-one-out cross-validation for large data"). Then
elpd_loo = sum_i log sum_s w_is p(x_i | theta_s) with the smoothed, normalised weights,
``p_loo`` = lpd - elpd_loo where lpd is corrected from q to the posterior the same way,
and ``mcse`` bounds the Monte Carlo error (the sum of the points' delta-method errors).
All N + 1 sets of ratios are smoothed in one :func:`arviz.psislw` call. It estimates the
LOO of the exact posterior, and works only when q is close enough to it: the k-hat of the
full-data ratios p(x, theta) / q(theta) (``proposal_khat``) must be below ArviZ's
threshold for the number of draws.

**plug-in** (``"plug-in"``): :func:`arviz.loo` on the guide's draws taken as posterior
draws. It estimates the LOO of the approximate posterior q itself (the predictive
distribution a user of the fit actually gets), not of the exact posterior.

With ``method="auto"`` (the default) :func:`variational_loo` gives the importance-
corrected estimate when the proposal's k-hat allows it, and the plug-in estimate, with
a ``note`` saying why, when the correction is degenerate (as it is for posteriors over
many thousands of weights).
"""

from __future__ import annotations

import warnings

import numpy as np

from .psis import KhatReading, khat_threshold, psis_many, select_chain

__all__ = ["IMPORTANCE", "PLUG_IN", "loo_from_arrays", "variational_loo"]

IMPORTANCE = "importance-corrected"
PLUG_IN = "plug-in"
_METHODS = ("auto", IMPORTANCE, PLUG_IN)


def _logsumexp(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def _importance(log_ratio, log_lik):
    """Pointwise elpd, lpd, delta-method MC error and k-hat, and the proposal's PSIS."""
    rows = np.concatenate([log_ratio[None], log_ratio[None] - log_lik.T])
    smoothed, results = psis_many(rows)
    full, loo = smoothed[0], smoothed[1:]
    elpd = _logsumexp(loo + log_lik.T, axis=1)
    lpd = _logsumexp(full[None] + log_lik.T, axis=1)
    # Self-normalised E = sum_s w_s p_s has Var(E) ~ sum_s w_s^2 (p_s - E)^2.
    p = np.exp(log_lik.T - elpd[:, None])
    w = np.exp(loo)
    mcse = np.sqrt(np.sum(w**2 * (p - 1.0) ** 2, axis=1))
    khat = np.array([r.khat for r in results[1:]])
    return elpd, lpd, mcse, khat, results[0]


def _elpd_data(values):
    from arviz import ELPDData

    return ELPDData(data=list(values.values()), index=list(values))


def _plug_in(log_lik_da):
    import arviz as az

    with warnings.catch_warnings():
        # The warning's content is in the result's ``warning`` and ``pareto_k``.
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        # arviz's check for a non-pointwise likelihood also fires for a single point.
        warnings.filterwarnings("ignore", message="The point-wise LOO is the same")
        return az.loo(az.InferenceData(log_likelihood=log_lik_da.to_dataset(name="obs")),
                      pointwise=True, reff=1.0, var_name="obs")


def _loo(log_joint, log_q, log_lik_da, method):
    """The estimate from ``log_lik_da`` (dims ``chain`` (one), ``draw``, observations)."""
    import xarray as xr

    if method not in _METHODS:
        raise ValueError(f"method: expected one of {list(_METHODS)}, got {method!r}")
    obs_dims = [d for d in log_lik_da.dims if d not in ("chain", "draw")]
    num_draws = log_lik_da.sizes["draw"]
    log_lik = log_lik_da.values.reshape(num_draws, -1)
    if not np.isfinite(log_lik).all():
        raise ValueError("log_lik: expected finite pointwise log-likelihoods")
    elpd, lpd, mcse, khat, proposal = _importance(log_joint - log_q, log_lik)
    degenerate = proposal.reading is KhatReading.UNRELIABLE
    if method == "auto":
        method = PLUG_IN if degenerate else IMPORTANCE
    extras = {"loo_method": method, "proposal_khat": proposal.khat,
              "proposal_ess": proposal.ess}
    if method == PLUG_IN:
        result = _plug_in(log_lik_da)
        note = ("PSIS-LOO of the guide's draws taken as posterior draws (the plug-in "
                "approximation): the predictive performance of the fitted approximation q, "
                "not of the exact posterior.")
        if degenerate:
            note = (f"The guide's own k-hat is {proposal.khat:.2f} (ESS {proposal.ess:.0f} of "
                    f"{num_draws} draws), so correcting its draws to the posterior by "
                    f"importance sampling is degenerate. {note}")
        values = {**dict(result.items()), **extras, "note": note}
        return _elpd_data(values)

    coords = {d: log_lik_da[d].values for d in obs_dims if d in log_lik_da.coords}
    shape = tuple(log_lik_da.sizes[d] for d in obs_dims)

    def array(x, name):
        return xr.DataArray(x.reshape(shape), dims=obs_dims, coords=coords, name=name)

    good_k = khat_threshold(num_draws)
    note = ("PSIS-LOO of the exact posterior, reached from the guide's draws by importance "
            "sampling (Magnusson et al. 2019).")
    if degenerate:
        note = (f"Not reliable: the guide's own k-hat is {proposal.khat:.2f} (ESS "
                f"{proposal.ess:.0f} of {num_draws}), so the importance correction is "
                f"degenerate. {note}")
    values = {
        "elpd_loo": float(elpd.sum()),
        "se": float(np.sqrt(elpd.size * np.var(elpd))),
        "p_loo": float(lpd.sum() - elpd.sum()),
        "n_samples": num_draws,
        "n_data_points": elpd.size,
        "warning": bool(degenerate or np.any(~(khat <= good_k))),
        "loo_i": array(elpd, "loo_i"),
        "pareto_k": array(khat, "pareto_shape"),
        "scale": "log",
        "good_k": good_k,
        **extras,
        "mcse": float(mcse.sum()),
        "mcse_i": array(mcse, "mcse_i"),
        "note": note,
    }
    return _elpd_data(values)


def loo_from_arrays(log_joint, log_q, log_lik, method="auto"):
    """PSIS-LOO from draws of q (see the module docstring), from plain arrays.

    :param log_joint: ``(S,)`` log p(x, theta_s) of the whole data set.
    :param log_q: ``(S,)`` log q(theta_s).
    :param log_lik: ``(S, N)`` pointwise log p(x_i | theta_s).
    :param str method: ``"auto"``, ``"importance-corrected"`` or ``"plug-in"``.
    :rtype: arviz.ELPDData
    """
    import xarray as xr

    log_joint = np.asarray(log_joint, dtype=np.float64)
    log_q = np.asarray(log_q, dtype=np.float64)
    log_lik = np.asarray(log_lik, dtype=np.float64)
    if log_joint.ndim != 1 or log_q.shape != log_joint.shape:
        raise ValueError(
            f"log_joint, log_q: expected two arrays of shape (S,), got {log_joint.shape} and "
            f"{log_q.shape}"
        )
    if log_lik.ndim != 2 or log_lik.shape[0] != log_joint.size:
        raise ValueError(f"log_lik: expected shape ({log_joint.size}, N), got {log_lik.shape}")
    da = xr.DataArray(log_lik[None], dims=("chain", "draw", "observation"))
    return _loo(log_joint, log_q, da, method)


def variational_loo(idata, chain=None, var_names=None, method="auto"):
    """PSIS-LOO of a fit exported by
    :func:`~pyro_local.diagnostics.inference_data.to_inference_data`.

    Every element of every selected ``log_likelihood`` variable counts as one point.
    The result is an :class:`arviz.ELPDData` with ArviZ's entries (``elpd_loo``,
    ``se``, ``p_loo``, ``loo_i``, ``pareto_k``, ``good_k``, ...) and these:
    ``loo_method`` (``"importance-corrected"`` or ``"plug-in"``), ``proposal_khat`` and
    ``proposal_ess`` (PSIS of the guide itself), ``note`` (what the estimate is, in
    words) and, for the importance-corrected estimate, ``mcse`` (a bound on its Monte
    Carlo error) and ``mcse_i``.

    :param arviz.InferenceData idata: with ``log_likelihood`` and ``sample_stats``.
    :param int chain: which fit; may be left out when there is only one.
    :param var_names: observed sites to use (default: all).
    :param str method: ``"auto"`` (importance-corrected unless degenerate, then plug-in),
        ``"importance-corrected"`` or ``"plug-in"``.
    :rtype: arviz.ELPDData

    Example::

        loo_a, loo_b = variational_loo(idata_a), variational_loo(idata_b)
        arviz.compare({"a": loo_a, "b": loo_b})
    """
    import xarray as xr

    index, stats = select_chain(idata, chain, ("log_joint", "log_q"))
    if "log_likelihood" not in idata.groups():
        raise ValueError("idata: expected a log_likelihood group")
    log_lik = idata.log_likelihood.isel(chain=[index])
    names = list(log_lik.data_vars) if var_names is None else list(var_names)
    unknown = [n for n in names if n not in log_lik.data_vars]
    if unknown or not names:
        raise ValueError(
            f"var_names: expected names among {list(log_lik.data_vars)}, got {names}"
        )
    if len(names) == 1:
        da = log_lik[names[0]]
    else:
        draws = log_lik.sizes["draw"]
        stacked = np.concatenate(
            [log_lik[n].values.reshape(1, draws, -1) for n in names], axis=-1)
        da = xr.DataArray(stacked, dims=("chain", "draw", "observation"))
    return _loo(stats["log_joint"].values, stats["log_q"].values, da, method)
