"""One pass of guide, model and posterior predictive for a block of draws.

:func:`run_block` samples the guide, replays the model on the guide's values to score
them, and runs the model once more with its observations removed to draw replicated
data. With ``size`` set, all three run inside an extra vectorized plate so that one
call yields ``size`` independent draws (as Pyro's ``Predictive(parallel=True)`` does).

The model is replayed with :func:`pyro_local.poutine.replay` rather than
:func:`pyro.poutine.replay`: Pyro's replay replaces each model site's ``infer`` dict with
the guide's, which would lose the layer names that the model's own
``pyro_local.poutine.layer`` handler wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import pyro
import torch
from pyro import poutine
from pyro.poutine.util import prune_subsample_sites, site_is_subsample

from ..poutine import replay

_DRAW_PLATE = "_pyro_local_draws"


class BlockTraces(NamedTuple):
    """The three traces of one block of draws.

    :ivar guide: the guide's trace, with ``log_prob`` computed.
    :ivar model: the model replayed on the guide's values, with ``log_prob`` computed.
    :ivar predictive: the model replayed on the same values with every observed site
        sampled afresh (Pyro's ``uncondition``), or ``None`` where not asked for.
    """

    guide: object
    model: object
    predictive: object


def is_observed_data(site):
    """Whether a trace site is an observation (not a latent, deterministic or subsample site)."""
    return (
        site["type"] == "sample"
        and site["is_observed"]
        and not site["infer"].get("_deterministic", False)
        and not site_is_subsample(site)
    )


def is_latent(site):
    """Whether a trace site is a latent sample site (not observed, not a subsample site)."""
    return site["type"] == "sample" and not site["is_observed"] and not site_is_subsample(site)


def is_deterministic(site):
    """Whether a trace site was made by :func:`pyro.deterministic`."""
    return site["type"] == "sample" and site["infer"].get("_deterministic", False)


def _vectorized(fn: Callable, size: int, dim: int) -> Callable:
    def fn_in_draw_plate(*args, **kwargs):
        with pyro.plate(_DRAW_PLATE, size, dim=dim):
            return fn(*args, **kwargs)

    return fn_in_draw_plate


def max_plate_nesting(*traces) -> int:
    """The deepest vectorized plate dimension used in any of ``traces``."""
    dims = [
        frame.dim
        for trace in traces
        for site in trace.nodes.values()
        if site["type"] == "sample"
        for frame in site["cond_indep_stack"]
        if frame.vectorized and frame.dim is not None
    ]
    return -min(dims) if dims else 0


def run_block(model, guide, args, kwargs, size=None, plate_nesting=0,
              predictive=True) -> BlockTraces:
    """Draws from the guide and scores them under the model.

    :param callable model: a Pyro model with observed sites.
    :param callable guide: a Pyro guide for ``model``.
    :param tuple args: positional arguments of model and guide.
    :param dict kwargs: keyword arguments of model and guide.
    :param int size: number of draws made at once inside a vectorized plate, or ``None``
        for one draw without that plate.
    :param int plate_nesting: the model's and guide's deepest plate dimension; the draw
        plate goes to the left of it.
    :param bool predictive: whether to draw replicated data (``BlockTraces.predictive``
        is ``None`` otherwise).
    :returns: the three traces of the block.
    :rtype: BlockTraces
    :raises ValueError: where the model has a latent site the guide does not sample.
    """
    if size is not None:
        model = _vectorized(model, size, -plate_nesting - 1)
        guide = _vectorized(guide, size, -plate_nesting - 1)
    with torch.no_grad():
        guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
        replayed = replay(model, guide_trace)
        model_trace = poutine.trace(replayed).get_trace(*args, **kwargs)
        missing = [
            name
            for name, site in model_trace.nodes.items()
            if is_latent(site) and name not in guide_trace
        ]
        if missing:
            raise ValueError(
                f"expected the guide to sample every latent site of the model, but it does "
                f"not sample {missing}; the importance weights p/q would be wrong"
            )
        predictive_trace = None
        if predictive:
            predictive_trace = poutine.trace(poutine.uncondition(replayed)).get_trace(
                *args, **kwargs
            )
        guide_trace = prune_subsample_sites(guide_trace)
        model_trace = prune_subsample_sites(model_trace)
        guide_trace.compute_log_prob()
        model_trace.compute_log_prob()
    return BlockTraces(guide_trace, model_trace, predictive_trace)
