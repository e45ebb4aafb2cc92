"""Small helpers on distribution objects."""

from __future__ import annotations

from pyro.distributions.torch_distribution import ExpandedDistribution, MaskedDistribution
from torch.distributions import Distribution, Independent

_WRAPPERS = (Independent, ExpandedDistribution, MaskedDistribution)


def unwrapped(fn: Distribution) -> Distribution:
    """
    ``fn`` without the wrappers that ``.to_event``, ``.expand`` and ``.mask`` (and
    plates) put around a distribution: the family a site was written with.
    """
    while isinstance(fn, _WRAPPERS):
        fn = fn.base_dist
    return fn
