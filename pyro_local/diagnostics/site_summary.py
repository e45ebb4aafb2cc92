"""What the export keeps of a site besides its draws: running moments of large sites,
a fixed subset of their elements, and facts read from the model's distribution.

Large latent sites (whole weight matrices, per-datum latents) are not stored draw by
draw. For each, :class:`Moments` accumulates per element the posterior mean, standard
deviation and probability of exactly zero (the atom of rectified latents), and
:func:`subset_index` names a few elements whose draws are kept, so that every export
has a ``posterior`` group ArviZ can read (``arviz.loo``, ``arviz.summary``).
:func:`site_facts` records the distribution's name and, where it is the same for every
element, the prior's mean and standard deviation.
"""

from __future__ import annotations

import torch

from ..distributions.util import unwrapped

__all__ = ["Moments", "distribution_name", "site_facts", "subset_index"]


class Moments:
    """Running mean, sum of squared deviations and count of exact zeros, merged block by
    block (Chan et al. 1979), in float64."""

    def __init__(self):
        self.count = 0
        self.mean = self.m2 = self.zeros = None

    def update(self, x):
        """Adds a block ``(k, *shape)`` of draws."""
        x = x.double()
        k = x.shape[0]
        mean = x.mean(0)
        m2 = (x - mean).pow(2).sum(0)
        zeros = (x == 0).sum(0).double()
        if self.count == 0:
            self.count, self.mean, self.m2, self.zeros = k, mean, m2, zeros
            return
        total = self.count + k
        delta = mean - self.mean
        self.mean = self.mean + delta * (k / total)
        self.m2 = self.m2 + m2 + delta.pow(2) * (self.count * k / total)
        self.zeros = self.zeros + zeros
        self.count = total

    def result(self):
        """``(3, *shape)``: mean, standard deviation (``ddof=1``) and fraction of zeros."""
        var = (self.m2 / (self.count - 1) if self.count > 1
               else torch.full_like(self.m2, torch.nan))
        return torch.stack([self.mean, var.sqrt(), self.zeros / self.count])


#: Names of the statistics :meth:`Moments.result` stacks.
STATISTICS = ("mean", "sd", "p_zero")


def subset_index(numel, size):
    """``size`` evenly spaced flat indices of a site with ``numel`` elements (all of them
    when it has fewer)."""
    if numel <= size:
        return torch.arange(numel)
    return torch.linspace(0, numel - 1, size).round().long().unique()


def distribution_name(fn):
    """The class name of a site's distribution, through ``Independent``, expansions and
    masks."""
    return type(unwrapped(fn)).__name__


def _constant(values):
    values = values.detach().double().reshape(-1)
    if values.numel() == 0 or not torch.isfinite(values).all():
        return None
    first = values[0]
    return float(first) if torch.all(values == first) else None


def site_facts(site):
    """The distribution's name and, when they are the same for every element, its mean
    and standard deviation (``prior_mean``, ``prior_sd`` for a latent site of the model).

    :returns: a dict of str, int or float values (what netCDF attributes hold).
    """
    fn = site["fn"]
    facts = {"distribution": distribution_name(fn)}
    if site["is_observed"]:
        return facts
    for key, attr in (("prior_mean", "mean"), ("prior_sd", "variance")):
        try:
            value = getattr(fn, attr)
        except (NotImplementedError, AttributeError, RuntimeError):
            continue
        value = _constant(value)
        if value is not None:
            facts[key] = value ** 0.5 if attr == "variance" else value
    return facts
