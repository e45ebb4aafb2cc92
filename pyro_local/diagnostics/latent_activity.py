"""How much of each latent layer a fitted guide uses: active units and exact zeros."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import pyro
import torch
from pyro import poutine
from pyro.poutine.util import site_is_subsample

from .._checks import check_int

#: The plate that vectorizes the posterior samples.
PARTICLES = "activity_particles"


class LayerActivity(NamedTuple):
    """
    Activity of one latent layer over a data set.

    :param int num_units: the layer's width.
    :param int active_units: units whose posterior mean varies across the data by
        more than the threshold (Burda et al., 2016): ``Var_x(E_q[z_u | x]) > 0.01``.
    :param float zero_fraction: the fraction of posterior samples (over units, data
        and draws) that are exactly zero.
    :param torch.Tensor unit_variance: ``Var_x(E_q[z_u | x])`` per unit (float64).
    """

    num_units: int
    active_units: int
    zero_fraction: float
    unit_variance: torch.Tensor


class _Moments:
    """Running sums over data for one site (float64)."""

    def __init__(self):
        self.n = 0
        self.sum = self.sum_sq = self.within = None
        self.zeros = 0
        self.count = 0

    def update(self, z: torch.Tensor) -> None:
        # z: (S, N, units). The mean of S draws estimates E_q[z | x]; its variance
        # across x exceeds Var_x(E_q[z | x]) by E_x[Var_q(z | x)] / S, which the
        # within-datum sample variance estimates without bias and is subtracted.
        z = z.detach().double()
        num_draws = z.shape[0]
        means = z.mean(0)
        within = z.var(0, unbiased=True) / num_draws if num_draws > 1 else torch.zeros_like(means)
        s, ss, w = means.sum(0), (means**2).sum(0), within.sum(0)
        if self.sum is None:
            self.sum, self.sum_sq, self.within = s, ss, w
        else:
            self.sum, self.sum_sq, self.within = self.sum + s, self.sum_sq + ss, self.within + w
        self.n += means.shape[0]
        self.zeros += int((z == 0).sum())
        self.count += z.numel()

    def result(self, threshold: float) -> LayerActivity:
        if self.n < 2:
            raise ValueError("latent_activity needs at least two data points")
        mean = self.sum / self.n
        var_of_means = (self.sum_sq - self.n * mean**2) / (self.n - 1)
        unit_variance = (var_of_means - self.within / self.n).clamp(min=0)
        return LayerActivity(
            num_units=int(unit_variance.numel()),
            active_units=int((unit_variance > threshold).sum()),
            zero_fraction=self.zeros / self.count,
            unit_variance=unit_variance,
        )


@torch.no_grad()
def latent_activity(
    guide,
    batches: Iterable,
    sites: Sequence[str] | None = None,
    num_samples: int = 20,
    threshold: float = 0.01,
) -> dict[str, LayerActivity]:
    """
    Active units and exact-zero fractions of the latent layers of an amortized guide.

    For each batch the guide runs once with ``num_samples`` draws per datum,
    vectorized by a plate at ``dim=-2``, so its latent sites must sit in a data plate
    at ``dim=-1`` with event shape ``(units,)``. ``E_q[z | x]`` is the mean of the
    draws; the across-data variance of that mean is corrected for its Monte Carlo
    noise (the within-datum variance divided by ``num_samples`` is subtracted), so the
    active-unit count does not grow with sampling noise. Put modules with batch
    normalisation in evaluation mode first.

    :param guide: a Pyro guide taking each batch as its arguments.
    :param batches: an iterable of batches: tuples of positional arguments, or
        single tensors.
    :param sites: the latent sites to report (default all of the guide's sample sites).
    :param int num_samples: draws per datum.
    :param float threshold: the variance above which a unit counts as active.
    :returns: ``{site: LayerActivity}`` in the guide's site order.
    """
    check_int(num_samples, "num_samples")
    moments: dict[str, _Moments] = {}
    for batch in batches:
        args = batch if isinstance(batch, (tuple, list)) else (batch,)
        with pyro.plate(PARTICLES, num_samples, dim=-2):
            trace = poutine.trace(guide).get_trace(*args)
        for name, site in trace.nodes.items():
            if site["type"] != "sample" or site["is_observed"] or site_is_subsample(site):
                continue
            if sites is not None and name not in sites:
                continue
            value = site["value"]
            if value.dim() != 3:
                raise ValueError(
                    f"site {name!r}: expected samples of shape (num_samples, N, units), got "
                    f"{tuple(value.shape)}; the guide's latents must be in a data plate at "
                    "dim=-1 with event shape (units,)"
                )
            moments.setdefault(name, _Moments()).update(value)
    if sites is not None:
        missing = [s for s in sites if s not in moments]
        if missing:
            raise ValueError(f"sites: the guide has no sample sites {missing}")
    if not moments:
        raise ValueError("batches: expected at least one batch, got none")
    return {name: m.result(threshold) for name, m in moments.items()}
