"""Simulation-based calibration of a variational fit (VSBC).

Yao, Vehtari, Simpson and Gelman (2018), "Yes, but did it work?", section 4: for models
small enough to refit many times, draw parameters from the prior, theta* ~ p(theta),
simulate data y* ~ p(y | theta*), fit the guide to y*, and record for each scalar
parameter the guide's quantile of the truth, u = Pr_q(theta < theta*). Over many
replications:

- if q were the exact posterior, u would be **uniform** (Talts et al. 2018);
- Yao et al. test the weaker property that matters for point estimates: u is
  **symmetric** about 1/2 (as for any q whose errors are not biased in one direction),
  by a two-sample Kolmogorov-Smirnov test of u against 1 - u. An asymmetric
  distribution means the fit is biased in one direction.

:func:`vsbc` runs the replications; :class:`VSBCResult` keeps the quantiles and gives
both tests per parameter.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pyro
import torch
from pyro import poutine

from .._checks import check_int
from .traces import is_latent, is_observed_data

__all__ = ["VSBCResult", "vsbc"]


class VSBCResult(NamedTuple):
    """The guide's quantiles of the true parameters over the replications.

    :ivar dict quantiles: site -> ``(num_replications, *site_shape)`` array of
        Pr_q(theta < theta*) (ties count one half).
    :ivar int num_draws: guide draws behind each quantile.
    """

    quantiles: dict
    num_draws: int

    def tests(self):
        """Per site, the p-values of the Kolmogorov-Smirnov tests of uniformity and of
        symmetry (u against 1 - u), each of the site's shape.

        :returns: ``{site: (uniformity, symmetry)}``.
        """
        from scipy.stats import kstest

        out = {}
        for site, u in self.quantiles.items():
            flat = u.reshape(u.shape[0], -1)
            uniform = np.array([kstest(col, "uniform").pvalue for col in flat.T])
            symmetric = np.array([kstest(col, 1 - col).pvalue for col in flat.T])
            out[site] = (uniform.reshape(u.shape[1:]), symmetric.reshape(u.shape[1:]))
        return out

    def verdict(self, level=0.01):
        """``"ok"`` (uniform and symmetric), ``"miscalibrated"`` (symmetric but not uniform:
        the guide's spread is off, not its centre) or ``"biased"`` (not symmetric), with
        Bonferroni over all parameters at ``level``."""
        tests = self.tests()
        count = sum(u.size for u, _ in tests.values())
        if any(np.min(s, initial=1.0) * count < level for _, s in tests.values()):
            return "biased"
        if any(np.min(u, initial=1.0) * count < level for u, _ in tests.values()):
            return "miscalibrated"
        return "ok"


def vsbc(model, fit, *args, num_replications=100, num_samples=1000, sites=None, seed=0,
         parallel=False, progress=False, **kwargs):
    """Runs VSBC (see the module docstring).

    For each replication the model runs with its observations removed (Pyro's
    ``uncondition``) to draw the true parameters and a data set, then
    ``fit(conditioned_model, *args, **kwargs)`` must return a guide fitted to that data
    set (``conditioned_model`` is ``model`` conditioned on the simulated observations),
    and the guide is drawn ``num_samples`` times.

    :param callable model: a Pyro model with observed sites.
    :param callable fit: ``(model, *args, **kwargs) -> guide``, e.g. a few hundred SVI
        steps on a fresh guide.
    :param int num_replications: simulated data sets.
    :param int num_samples: guide draws per fit.
    :param sites: latent sites to check (default: every latent site).
    :param int seed: replication ``m`` runs with Pyro's seed ``seed + m``.
    :param bool parallel: draw from the guide in a vectorized plate.
    :param bool progress: show a progress bar (tqdm).
    :rtype: VSBCResult

    Example::

        def fit(model, x, y):
            guide = AutoNormal(model)
            svi = SVI(model, guide, Adam({"lr": 0.05}), Trace_ELBO())
            for _ in range(500):
                svi.step(x, y)
            return guide

        result = vsbc(model, fit, x, y, num_replications=100)
        result.verdict()      # "ok", "miscalibrated" or "biased"
    """
    from pyro.infer import Predictive
    from tqdm.auto import tqdm

    if not callable(model) or not callable(fit):
        raise TypeError("model, fit: expected callables")
    check_int(num_replications, "num_replications")
    check_int(num_samples, "num_samples")
    obs_names = _observed_names(model, args, kwargs)
    quantiles = {}
    for m in tqdm(range(num_replications), desc="VSBC fits", disable=not progress,
                  leave=False):
        pyro.set_rng_seed(seed + m)
        with torch.no_grad():
            truth = poutine.trace(poutine.uncondition(model)).get_trace(*args, **kwargs)
        # uncondition samples the observed sites: they are the simulated data set.
        latent = [n for n, s in truth.nodes.items()
                  if is_latent(s) and n not in obs_names and not s["infer"].get("_deterministic")]
        observed = {n: truth.nodes[n]["value"].detach() for n in obs_names}
        names = latent if sites is None else list(sites)
        missing = [n for n in names if n not in latent]
        if missing:
            raise ValueError(f"sites: expected latent sites among {latent}, got {missing}")
        conditioned = poutine.condition(model, data=observed)
        guide = fit(conditioned, *args, **kwargs)
        with torch.no_grad():
            draws = Predictive(conditioned, guide=guide, num_samples=num_samples,
                               return_sites=names, parallel=parallel)(*args, **kwargs)
        for name in names:
            true = truth.nodes[name]["value"].detach()
            value = draws[name].detach().reshape((num_samples,) + true.shape)
            u = (value < true).double().mean(0) + 0.5 * (value == true).double().mean(0)
            quantiles.setdefault(name, []).append(u.cpu().numpy())
    return VSBCResult({n: np.stack(v) for n, v in quantiles.items()}, num_samples)


def _observed_names(model, args, kwargs):
    with torch.no_grad():
        trace = poutine.trace(model).get_trace(*args, **kwargs)
    return {n for n, s in trace.nodes.items() if is_observed_data(s)}
