"""Guide and model traces that keep the model's layer labels, and their checks."""

from __future__ import annotations

import math

from pyro import poutine
from pyro.infer.util import is_validation_enabled
from pyro.poutine.util import site_is_subsample
from pyro.util import check_model_guide_match

from ..poutine import replay


def guide_is_prior(site) -> bool:
    """
    Whether a latent model site is its own posterior conditional: its variational
    distribution equals its model distribution given its parents, so it needs no
    guide site and adds ``log p - log q = 0`` to the ELBO. Mark such sites with
    ``infer={"guide_is_prior": True}``; the stochastic activations of local
    learning rules are the typical case.
    """
    return bool(site["infer"].get("guide_is_prior", False))


def get_traces(model, guide, args, kwargs, max_plate_nesting=math.inf):
    """
    Runs ``guide`` and then ``model`` replayed against it. Use this (not Pyro's
    replay) to see which layer a latent site belongs to: the model's label survives.

    :param callable model: a Pyro model.
    :param callable guide: a Pyro guide, or ``None`` for a model without guided
        latents (only observed sites and ``guide_is_prior`` latents).
    :returns: ``(model_trace, guide_trace)``.
    """
    if guide is None:
        # Nothing to replay: the model runs under one handler less (every site of
        # every layer passes through each handler on the stack).
        guide_trace = poutine.Trace()
        model_trace = poutine.trace(model).get_trace(*args, **kwargs)
    else:
        guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
        model_trace = poutine.trace(replay(model, guide_trace)).get_trace(*args, **kwargs)
    if is_validation_enabled():
        _check_traces(model_trace, guide_trace, max_plate_nesting)
    return model_trace, guide_trace


def check_no_enumeration(trace) -> None:
    """
    Refuses sample sites marked for enumeration: the local ELBO samples every latent
    (score-function gradients for discrete ones) and never sums one out.
    """
    for name, site in trace.nodes.items():
        if site["type"] == "sample" and site["infer"].get("enumerate"):
            raise ValueError(
                f"site {name!r} is marked for enumeration (infer={{'enumerate': "
                f"{site['infer']['enumerate']!r}}}), which LocalELBO does not do: train the "
                "model with pyro.infer.TraceEnum_ELBO, or remove the mark and give the site "
                "a guide distribution (its gradient then uses the score function)"
            )


def missing_guide_site_error(names) -> ValueError:
    """The error for latent model sites that have no guide site."""
    return ValueError(
        f"latent model sites {list(names)} have no guide site; add them to the guide, or "
        "mark them infer={'guide_is_prior': True} if their variational conditional is the "
        "model's own"
    )


def _check_traces(model_trace, guide_trace, max_plate_nesting):
    check_no_enumeration(guide_trace)
    check_no_enumeration(model_trace)
    missing = [
        name
        for name, site in model_trace.nodes.items()
        if site["type"] == "sample"
        and not site["is_observed"]
        and not site_is_subsample(site)
        and name not in guide_trace.nodes
        and not guide_is_prior(site)
    ]
    if missing:
        raise missing_guide_site_error(missing)
    if not any(site["type"] == "sample" for site in guide_trace.nodes.values()):
        return  # Pyro's checks compare the sites both traces share: there are none
    # Pyro's checks (shapes, auxiliary sites) on the sites that both traces share.
    prior_only = [
        name
        for name, site in model_trace.nodes.items()
        if site["type"] == "sample" and guide_is_prior(site) and name not in guide_trace
    ]
    if prior_only:
        model_trace = model_trace.copy()
        for name in prior_only:
            model_trace.remove_node(name)
    check_model_guide_match(model_trace, guide_trace, max_plate_nesting)
