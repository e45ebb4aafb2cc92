"""Pareto-smoothed importance sampling (PSIS) diagnostics of a variational fit.

Yao, Vehtari, Simpson and Gelman (2018), "Yes, but did it work?: Evaluating variational
inference": draw theta_s ~ q and form the importance ratios
r_s = p(x, theta_s) / q(theta_s). The estimated shape k-hat of a generalized Pareto
distribution fitted to the largest ratios tells how heavy their tail is, and so how
far q is from the posterior where it matters. With S draws the reading is ArviZ's
(Vehtari et al. 2024, "Pareto smoothed importance sampling"):

- k-hat < 0.5: **good**, the guide is close to the posterior;
- 0.5 <= k-hat <= min(1 - 1 / log10(S), 0.7): **usable**, importance-weighted estimates
  converge slowly;
- above that threshold: **unreliable**, the guide misses posterior mass in its tails
  (with S draws, estimates need k-hat below the threshold to converge).

The smoothing and the fit are :func:`arviz.psislw`'s, for many sets of ratios in one
call. Per layer, the same is done with the layer's own part of log p - log q: the model
and guide sites that carry the layer's name, which is the ratio inside that layer's
local ELBO. It is meaningful for guides that factorise over layers, and it leaves out
every other layer's terms: a layer whose likelihood term sits in another layer (or
outside any) is judged by its prior-to-guide ratio alone. A layer without latent
variables has no ratio to judge and is listed apart.
"""

from __future__ import annotations

import enum
import json
import math
from typing import NamedTuple

import numpy as np

from .._checks import is_int

__all__ = ["GOOD_KHAT", "HIGH_DIMENSION", "KhatReading", "PSISResult", "VariationalKhat",
           "khat_threshold", "psis", "psis_khat", "psis_many", "variational_khat"]

#: arviz's tail fit needs more than 4 tail draws, which it only takes from 21 draws on.
MIN_DRAWS = 21
#: Below this k-hat the guide is close to the posterior (Yao et al. 2018).
GOOD_KHAT = 0.5
#: Log ratios closer than this to each other count as tied (rounding of log densities).
TIE_TOLERANCE = 1e-6
#: From this many latent dimensions on, a large k-hat is expected of any tractable guide
#: (see :mod:`pyro_local.diagnostics.verdicts`).
HIGH_DIMENSION = 1000


def khat_threshold(num_draws=None):
    """ArviZ's sample-size-dependent k-hat threshold, ``min(1 - 1 / log10(S), 0.7)``:
    with S draws, importance-weighted estimates are reliable below it (Vehtari et al.
    2024). ``None`` gives the asymptotic 0.7.

    :param int num_draws: number of draws S.
    :rtype: float
    """
    if num_draws is None:
        return 0.7
    return min(1 - 1 / math.log10(num_draws), 0.7)


class KhatReading(str, enum.Enum):
    """The reading of a Pareto k-hat."""

    GOOD = "good"
    USABLE = "usable"
    UNRELIABLE = "unreliable"

    @classmethod
    def of(cls, khat, num_draws=None):
        """The reading of ``khat`` from ``num_draws`` draws (``NaN`` reads as unreliable).

        :param float khat: the estimate.
        :param int num_draws: the number of draws it came from; ``None`` uses the
            asymptotic threshold 0.7.
        """
        if not khat <= khat_threshold(num_draws):
            return cls.UNRELIABLE
        return cls.GOOD if khat < GOOD_KHAT else cls.USABLE

    def describe(self, num_draws=None):
        """The reading in plain words, with the threshold for ``num_draws`` draws."""
        threshold = khat_threshold(num_draws)
        if self is KhatReading.GOOD:
            return (f"k-hat below {GOOD_KHAT}: the approximation is close to the posterior "
                    "and importance-weighted estimates are reliable.")
        if self is KhatReading.USABLE:
            return (f"k-hat between {GOOD_KHAT} and {threshold:.2f}: the approximation is "
                    "usable, but importance-weighted estimates converge slowly; use more "
                    "draws or a richer guide.")
        return (f"k-hat above {threshold:.2f} (the threshold for this many draws): the "
                "approximation misses posterior mass in its tails, and importance-weighted "
                "estimates from it are unreliable.")


class PSISResult(NamedTuple):
    """Outcome of PSIS on one set of log importance ratios.

    :ivar float khat: estimated Pareto shape; ``-inf`` when the largest ratios are tied
        (bounded ratios, e.g. constant up to rounding when q is exact), ``inf`` when no
        tail can be fitted because five or fewer draws carry the weight.
    :ivar reading: the reading of ``khat`` for ``num_draws`` draws: ``"good"``,
        ``"usable"`` or ``"unreliable"`` (a string enum whose ``describe()`` says it in
        words).
    :ivar float ess: effective sample size of the smoothed weights, 1 / sum(w^2).
    :ivar int num_draws: number of draws.
    :ivar str note: what was special about this case, or ``""``.
    :ivar int dimension: latent elements per draw behind the ratios, when known.
    """

    khat: float
    reading: KhatReading
    ess: float
    num_draws: int
    note: str = ""
    dimension: int | None = None

    @property
    def threshold(self):
        """The k-hat threshold for this many draws, ``min(1 - 1 / log10(S), 0.7)``."""
        return khat_threshold(self.num_draws)

    def __str__(self):
        text = (
            f"k-hat = {self.khat:.2f} ({self.reading.value}); ESS {self.ess:.0f} of "
            f"{self.num_draws} draws. {self.reading.describe(self.num_draws)}"
        )
        if self.note:
            text = f"{text} {self.note}"
        if (self.reading is KhatReading.UNRELIABLE and self.dimension is not None
                and self.dimension >= HIGH_DIMENSION):
            text += (f" Over {self.dimension:,} latent dimensions this is expected of any "
                     "tractable guide and does not say whether the fit is useful; judge it "
                     "by its predictive checks.")
        return text


class VariationalKhat(NamedTuple):
    """k-hat of a fit overall and per layer.

    :ivar PSISResult overall: from the full log p(x, theta) - log q(theta).
    :ivar dict layers: layer name -> :class:`PSISResult` of that layer's part, for the
        layers with latent variables.
    :ivar tuple without_latents: layers with no latent variable (no guide site): their
        part of the log ratio is a likelihood, not an importance ratio.
    """

    overall: PSISResult
    layers: dict
    without_latents: tuple = ()


def _check_log_weights(log_weights, name="log_weights"):
    log_weights = np.asarray(log_weights, dtype=np.float64)
    if log_weights.ndim not in (1, 2):
        raise ValueError(
            f"{name}: expected an array of draws (S,) or (K, S), got shape {log_weights.shape}"
        )
    if log_weights.shape[-1] < MIN_DRAWS:
        raise ValueError(
            f"{name}: expected at least {MIN_DRAWS} draws for a Pareto tail fit (1000 or "
            f"more are advisable), got {log_weights.shape[-1]}"
        )
    if np.isnan(log_weights).any() or np.isposinf(log_weights).any():
        raise ValueError(f"{name}: expected no NaN or +inf log weights")
    if np.isneginf(log_weights).all(axis=-1).any():
        raise ValueError(f"{name}: expected some finite log weights, got all -inf")
    return log_weights


_BOUNDED = ("The largest importance ratios are tied (as when the guide equals the "
            "posterior up to rounding), so the ratios are bounded.")
_HOPELESS = "Fewer than five draws carry non-negligible importance weight."


def _degenerate(log_weights, khat):
    """Reads the sets where arviz could not fit a tail (``khat = inf``).

    arviz fits the tail to the draws strictly above its cutoff, the
    ceil(min(S / 5, 3 sqrt(S)))+1-th largest log ratio (floored at log(tiny) below the
    largest), and gives up when at most 4 lie above it. From MIN_DRAWS on that happens
    in three ways: the largest ratios are all tied (bounded ratios: k-hat is -inf), a
    handful of draws lie above a block of tied ratios (a few draws dominate), or nearly
    all draws have negligible weight. Only the first reads as good.

    :returns: the corrected k-hats and one note per set.
    """
    khat = np.array(khat, dtype=np.float64)
    notes = [""] * khat.size
    num_draws = log_weights.shape[-1]
    tail = math.ceil(min(num_draws / 5, 3 * math.sqrt(num_draws)))
    for i in np.flatnonzero(np.isposinf(khat)):
        top = np.sort(log_weights[i])[::-1][: tail + 1] - log_weights[i].max()
        if top[-1] <= np.log(np.finfo(float).tiny):
            notes[i] = _HOPELESS
        elif -top[-1] <= TIE_TOLERANCE:
            khat[i] = -math.inf
            notes[i] = _BOUNDED
        else:
            above = int(np.sum(top > top[-1] + TIE_TOLERANCE))
            notes[i] = (f"Only {above} draws lie above a block of tied ratios: a handful of "
                        "draws dominate, too few for a tail fit.")
    return khat, notes


def _ess(smoothed):
    m = smoothed.max(axis=-1, keepdims=True)
    # sum w^2 for normalised log weights, computed in the log domain.
    log_sum_sq = 2 * m[..., 0] + np.log(np.sum(np.exp(2 * (smoothed - m)), axis=-1))
    return np.exp(-log_sum_sq)


def psis_many(log_weights):
    """Pareto-smooths K sets of log importance ratios in one :func:`arviz.psislw` call.

    :param log_weights: ``(K, S)`` log ratios, one row per set of S draws (``-inf`` is
        allowed for draws outside p's support).
    :returns: the smoothed, normalised log weights ``(K, S)`` and one
        :class:`PSISResult` per set.
    :rtype: tuple
    """
    import arviz as az

    log_weights = _check_log_weights(log_weights)
    if log_weights.ndim != 2:
        raise ValueError(f"log_weights: expected shape (K, S), got {log_weights.shape}")
    smoothed, khat = az.psislw(log_weights.copy(), reff=1.0)
    smoothed = np.asarray(smoothed, dtype=np.float64)
    khat, notes = _degenerate(log_weights, np.atleast_1d(khat))
    ess = _ess(smoothed)
    num_draws = log_weights.shape[1]
    results = [
        PSISResult(float(k), KhatReading.of(k, num_draws), float(e), num_draws, note)
        for k, e, note in zip(khat, ess, notes, strict=True)
    ]
    return smoothed, results


def psis(log_weights):
    """Pareto-smooths one set of log importance ratios.

    :param log_weights: 1-D array of log ratios ``log p - log q``, one per draw
        (unnormalised; ``-inf`` is allowed for draws outside p's support).
    :returns: the smoothed, normalised log weights and the :class:`PSISResult`.
    :rtype: tuple
    """
    log_weights = _check_log_weights(log_weights)
    if log_weights.ndim != 1:
        raise ValueError(f"log_weights: expected a 1-D array of draws, got shape "
                         f"{log_weights.shape}")
    smoothed, (result,) = psis_many(log_weights[None])
    return smoothed[0], result


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
    if not is_int(chain, 0) or chain >= chains:
        raise ValueError(f"chain: expected an int in [0, {chains}), got {chain!r}")
    return chain, stats.isel(chain=chain)


def variational_khat(idata, chain=None):
    """PSIS k-hat of a fit exported by
    :func:`~pyro_local.diagnostics.inference_data.to_inference_data`, overall and per
    layer with latent variables.

    Draws of different fits come from different guides, so each chain is read on its
    own.

    :param arviz.InferenceData idata: with ``log_weight`` (and, for the layers,
        ``log_weight_layer`` and ``log_q_layer``) in ``sample_stats``.
    :param int chain: which fit; may be left out when there is only one.
    :rtype: VariationalKhat
    """
    _, stats = select_chain(idata, chain)
    rows, names, without = [stats["log_weight"].values], [], []
    if "log_weight_layer" in stats:
        for layer in stats["layer"].values:
            log_q = stats["log_q_layer"].sel(layer=layer).values if "log_q_layer" in stats \
                else None
            if log_q is not None and not np.any(log_q):
                without.append(str(layer))
                continue
            names.append(str(layer))
            rows.append(stats["log_weight_layer"].sel(layer=layer).values)
    _, results = psis_many(np.stack(rows))
    sizes = json.loads(stats.attrs.get("latent_sizes", "{}"))
    dims = [stats.attrs.get("latent_dimension")] + [sizes.get(n) for n in names]
    results = [r._replace(dimension=None if d is None else int(d))
               for r, d in zip(results, dims, strict=True)]
    return VariationalKhat(results[0], dict(zip(names, results[1:], strict=True)),
                           tuple(without))

