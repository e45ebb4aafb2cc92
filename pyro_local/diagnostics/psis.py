"""Pareto-smoothed importance sampling (PSIS) diagnostics of a variational fit.

Yao, Vehtari, Simpson and Gelman (2018), "Yes, but did it work?: Evaluating variational
inference": draw theta_s ~ q and form the importance ratios
r_s = p(x, theta_s) / q(theta_s). The estimated shape k-hat of a generalized Pareto
distribution fitted to the largest ratios tells how heavy their tail is, and so how
far q is from the posterior where it matters:

- k-hat < 0.5: **good**, the guide is close to the posterior;
- 0.5 <= k-hat <= 0.7: **usable**, importance-weighted estimates converge slowly;
- k-hat > 0.7: **unreliable**, the guide misses posterior mass in its tails.

The smoothing and the fit are :func:`arviz.psislw`'s. Per layer, the same is done with
the layer's own part of log p - log q: the model and guide sites that carry the layer's
name, which is the ratio inside that layer's local ELBO. It is meaningful for guides
that factorise over layers, and it leaves out every other layer's terms: a layer whose
likelihood term sits in another layer (or outside any) is judged by its prior-to-guide
ratio alone.
"""

from __future__ import annotations

import enum
import math
from typing import NamedTuple

import numpy as np

__all__ = ["KhatReading", "PSISResult", "VariationalKhat", "psis", "psis_khat",
           "variational_khat"]

#: arviz's tail fit needs more than 4 tail draws, which it only takes from 21 draws on.
MIN_DRAWS = 21


class KhatReading(str, enum.Enum):
    """The usual reading of a Pareto k-hat."""

    GOOD = "good"
    USABLE = "usable"
    UNRELIABLE = "unreliable"

    @classmethod
    def of(cls, khat):
        """The reading of ``khat`` (``NaN`` reads as unreliable)."""
        if khat < 0.5:
            return cls.GOOD
        if khat <= 0.7:
            return cls.USABLE
        return cls.UNRELIABLE

    @property
    def description(self):
        """The reading in plain words."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    KhatReading.GOOD: "k-hat below 0.5: the approximation is close to the posterior and "
    "importance-weighted estimates are reliable.",
    KhatReading.USABLE: "k-hat between 0.5 and 0.7: the approximation is usable, but "
    "importance-weighted estimates converge slowly; use more draws or a richer guide.",
    KhatReading.UNRELIABLE: "k-hat above 0.7: the approximation misses posterior mass in "
    "its tails; estimates from it, importance-weighted or not, are unreliable.",
}


class PSISResult(NamedTuple):
    """Outcome of PSIS on one set of log importance ratios.

    :ivar float khat: estimated Pareto shape; ``-inf`` when the largest ratios are tied
        (the ratios are bounded, e.g. constant up to rounding when q is exact), ``inf``
        when fewer than five draws carry non-negligible weight.
    :ivar KhatReading reading: the usual reading of ``khat``.
    :ivar float ess: effective sample size of the smoothed weights, 1 / sum(w^2).
    :ivar int num_draws: number of draws.
    :ivar str note: what was special about this case, or ``""``.
    """

    khat: float
    reading: KhatReading
    ess: float
    num_draws: int
    note: str = ""

    def __str__(self):
        text = (
            f"k-hat = {self.khat:.2f} ({self.reading.value}); ESS {self.ess:.0f} of "
            f"{self.num_draws} draws. {self.reading.description}"
        )
        return f"{text} {self.note}" if self.note else text


class VariationalKhat(NamedTuple):
    """k-hat of a fit overall and per layer.

    :ivar PSISResult overall: from the full log p(x, theta) - log q(theta).
    :ivar dict layers: layer name -> :class:`PSISResult` of that layer's part.
    """

    overall: PSISResult
    layers: dict


def _check_log_weights(log_weights, name="log_weights"):
    log_weights = np.asarray(log_weights, dtype=np.float64)
    if log_weights.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of draws, got shape {log_weights.shape}")
    if log_weights.size < MIN_DRAWS:
        raise ValueError(
            f"{name}: expected at least {MIN_DRAWS} draws for a Pareto tail fit (1000 or "
            f"more are advisable), got {log_weights.size}"
        )
    if np.isnan(log_weights).any() or np.isposinf(log_weights).any():
        raise ValueError(f"{name}: expected no NaN or +inf log weights")
    if np.isneginf(log_weights).all():
        raise ValueError(f"{name}: expected some finite log weights, got all -inf")
    return log_weights


def psis(log_weights):
    """Pareto-smooths log importance ratios.

    :param log_weights: 1-D array of log ratios ``log p - log q``, one per draw
        (unnormalised; ``-inf`` is allowed for draws outside p's support).
    :returns: the smoothed, normalised log weights and the :class:`PSISResult`.
    :rtype: tuple
    """
    import arviz as az

    log_weights = _check_log_weights(log_weights)
    n = log_weights.size
    smoothed, khat = az.psislw(log_weights.copy(), reff=1.0)
    khat = float(khat)
    note = ""
    if math.isinf(khat) and khat > 0:
        # arviz fits the tail to the draws strictly above its cutoff, the
        # ceil(min(n / 5, 3 sqrt(n)))+1-th largest log weight (floored at log(tiny) below
        # the largest), and gives up when at most 4 lie above it. From MIN_DRAWS on, that
        # happens either because the largest ratios are tied (bounded ratios) or because
        # nearly all draws have negligible weight (a hopeless q).
        tail = math.ceil(min(n / 5, 3 * math.sqrt(n)))
        cutoff = np.sort(log_weights)[-tail - 1] - log_weights.max()
        if cutoff > np.log(np.finfo(float).tiny):
            khat = -math.inf
            note = ("The largest importance ratios are tied (as when the guide equals the "
                    "posterior up to rounding), so the ratios are bounded.")
        else:
            note = "Fewer than five draws carry non-negligible importance weight."
    ess = float(1.0 / np.exp(_logsumexp(2 * smoothed)))
    return smoothed, PSISResult(khat, KhatReading.of(khat), ess, n, note)


def psis_khat(log_weights):
    """The :class:`PSISResult` of :func:`psis`.

    :param log_weights: 1-D array of log importance ratios, one per draw.
    :rtype: PSISResult

    Example::

        >>> import numpy as np
        >>> x = 2 * np.random.default_rng(0).normal(size=2000)  # q = N(0, 2^2)
        >>> psis_khat(-0.5 * x**2 + 0.5 * (x / 2) ** 2).reading.value  # p = N(0, 1)
        'good'
    """
    return psis(log_weights)[1]


def _logsumexp(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


def select_chain(idata, chain, variables=("log_weight",)):
    """The index and ``sample_stats`` of one fit (chain) of ``idata``, checking that
    ``sample_stats`` holds ``variables``."""
    if "sample_stats" not in idata.groups() or any(
        v not in idata.sample_stats for v in variables
    ):
        raise ValueError(
            f"idata: expected sample_stats with {list(variables)}, as to_inference_data "
            "writes them"
        )
    stats = idata.sample_stats
    chains = stats.sizes["chain"]
    if chain is None:
        if chains != 1:
            raise ValueError(
                f"chain: idata holds {chains} fits (chains); expected the index of one, got None"
            )
        chain = 0
    if isinstance(chain, bool) or not isinstance(chain, int) or not 0 <= chain < chains:
        raise ValueError(f"chain: expected an int in [0, {chains}), got {chain!r}")
    return chain, stats.isel(chain=chain)


def variational_khat(idata, chain=None):
    """PSIS k-hat of a fit exported by
    :func:`~pyro_local.diagnostics.inference_data.to_inference_data`, overall and per
    layer.

    Draws of different fits come from different guides, so each chain is read on its
    own.

    :param arviz.InferenceData idata: with ``log_weight`` and ``log_weight_layer`` in
        ``sample_stats``.
    :param int chain: which fit; may be left out when there is only one.
    :rtype: VariationalKhat
    """
    _, stats = select_chain(idata, chain)
    overall = psis_khat(stats["log_weight"].values)
    layers = {}
    if "log_weight_layer" in stats:
        layers = {
            str(layer): psis_khat(stats["log_weight_layer"].sel(layer=layer).values)
            for layer in stats["layer"].values
        }
    return VariationalKhat(overall, layers)
