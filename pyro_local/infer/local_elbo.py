"""The ELBO split into one term per layer."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from pyro import poutine
from pyro.distributions.kl import kl_divergence
from pyro.distributions.util import is_identically_zero, scale_and_mask
from pyro.infer.util import MultiFrameTensor, is_validation_enabled
from pyro.poutine.replay_messenger import ReplayMessenger
from pyro.poutine.util import site_is_subsample
from pyro.util import check_model_guide_match, check_site_shape

from ..poutine import GLOBAL, site_layer
from .errors import NonFiniteLossError
from .module_local import module_local_params


class SiteTerm(NamedTuple):
    """
    One site's contribution to its layer's ELBO.

    :param str site: the site's name.
    :param str kind: ``"observed"`` (model log-likelihood), ``"kl"`` (closed-form
        KL), ``"monte_carlo"`` (log p - log q at the sampled value) or
        ``"auxiliary"`` (an auxiliary guide site's -log q).
    :param torch.Tensor value: a scalar whose value is the contribution to the ELBO
        and whose gradient is that of the surrogate ELBO.
    """

    site: str
    kind: str
    value: torch.Tensor


def guide_is_prior(site) -> bool:
    """
    Whether a latent model site is its own posterior conditional: its variational
    distribution equals its model distribution given its parents, so it needs no
    guide site and adds ``log p - log q = 0`` to the ELBO. Mark such sites with
    ``infer={"guide_is_prior": True}``; the stochastic activations of local
    learning rules are the typical case.
    """
    return bool(site["infer"].get("guide_is_prior", False))


class _ReplayKeepingLayer(ReplayMessenger):
    """
    Pyro's replay, except that a replayed site keeps the layer the model assigned it:
    Pyro's replay replaces the model site's ``infer`` dict with the guide's, and
    guides (autoguides in particular) run outside the model's layers.
    """

    def _pyro_sample(self, msg):
        model_layer = msg["infer"].get("layer")
        super()._pyro_sample(msg)
        if model_layer is not None and msg["infer"].get("layer") != model_layer:
            msg["infer"] = {**msg["infer"], "layer": model_layer}


def replay(model, trace):
    """Like :func:`pyro.poutine.replay`, keeping the model's layer labels."""
    return _ReplayKeepingLayer(trace=trace)(model)


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
        guide_trace = poutine.Trace()
    else:
        guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
    model_trace = poutine.trace(replay(model, guide_trace)).get_trace(
        *args, **kwargs
    )
    if is_validation_enabled():
        _check_traces(model_trace, guide_trace, max_plate_nesting)
    return model_trace, guide_trace


def _check_traces(model_trace, guide_trace, max_plate_nesting):
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
        raise ValueError(
            f"latent model sites {missing} have no guide site; add them to the guide, "
            "or mark them infer={'guide_is_prior': True} if their variational "
            "conditional is the model's own"
        )
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


def _log_prob(site):
    log_p = site["fn"].log_prob(site["value"], *site["args"], **site["kwargs"])
    log_p = scale_and_mask(log_p, site["scale"], site["mask"])
    if is_validation_enabled() and torch.is_tensor(log_p):
        site["log_prob"] = log_p
        check_site_shape(site, math.inf)  # batch dims must line up with the plates
    return log_p


def _closed_form_kl(guide_site, model_site):
    """Closed-form KL(q || p), scaled and masked, or None when none is registered."""
    if not guide_site["fn"].has_rsample:
        # Downstream sites need the score function of this site's sample: Monte Carlo.
        return None
    try:
        kl = kl_divergence(guide_site["fn"], model_site["fn"])
    except NotImplementedError:
        return None
    kl = scale_and_mask(kl, guide_site["scale"], guide_site["mask"])
    if not torch.is_tensor(kl):
        kl = torch.full(guide_site["fn"].batch_shape, float(kl))
    return kl


def _monte_carlo_term(log_p, guide_site):
    """
    ``log p - log q`` at the sample with Pyro's surrogate gradient.

    :returns: ``(term, elementwise log p - log q, score function or None)``.
    """
    fn = guide_site["fn"]
    parts = fn.score_parts(guide_site["value"], *guide_site["args"], **guide_site["kwargs"])
    parts = parts.scale_and_mask(guide_site["scale"], guide_site["mask"])
    # Sum model and guide parts separately: their shapes may broadcast (a guide site
    # outside a plate that the model site is in), and the sums must not.
    log_p_sum = log_p.sum() if torch.is_tensor(log_p) else log_p
    elbo = log_p - parts.log_prob
    surrogate = log_p_sum
    if not is_identically_zero(parts.entropy_term):
        surrogate = surrogate - parts.entropy_term.sum()
    if not torch.is_tensor(surrogate):
        surrogate = torch.zeros(())
    # Value: log p - log q; gradient: the surrogate's (Pyro's estimator).
    term = surrogate + ((log_p_sum - parts.log_prob.sum()) - surrogate).detach()
    score = None if is_identically_zero(parts.score_function) else parts.score_function
    return term, elbo, score


def guide_site_layers(model_trace, guide_trace) -> dict[str, str]:
    """
    The layer of every sample site of a guide trace. A site the model has belongs to
    the model site's layer (guides such as autoguides run outside the model's layers).
    An auxiliary site (one the model lacks) keeps its own label if it has one, and
    otherwise belongs to the layer of the next guide site that the model has: the
    latent it helps to produce, as AutoNormal's ``"w_unconstrained"`` produces ``"w"``.

    :returns: ``{site name: layer}``.
    """
    layers, layer_ahead = {}, GLOBAL
    for name, site in reversed(guide_trace.nodes.items()):
        if site["type"] != "sample" or site_is_subsample(site):
            continue
        if name in model_trace.nodes:
            layer_ahead = layers[name] = site_layer(model_trace.nodes[name])
        else:
            layers[name] = site["infer"].get("layer", layer_ahead)
    return layers


def site_terms(model_trace, guide_trace, closed_form_kl=True) -> dict[str, list[SiteTerm]]:
    """
    Splits one particle's ELBO into per-site terms, grouped by layer.

    A latent site belongs to the layer of its model site (guides such as autoguides
    run outside the model's layers); an auxiliary guide site to its own label, or,
    without one, to the layer of the next guide site the model has (the latent it
    helps to produce, as AutoNormal's ``"w_unconstrained"`` produces ``"w"``). The KL
    of a reparameterized latent is taken in closed form wherever one is registered
    with torch (as :class:`~pyro.infer.TraceMeanField_ELBO` does); otherwise the
    term is ``log p - log q`` at the sample, with the score-function surrogate of
    :class:`~pyro.infer.Trace_ELBO` for non-reparameterized sites, whose reward is
    the layer's own ELBO (plate-aware, as Pyro's ``log_r``).

    :returns: ``{layer: [SiteTerm, ...]}`` in the order sites were visited.
    """
    terms: dict[str, list[SiteTerm]] = {}
    # Per layer: (plate stack, ELBO contribution) pairs, the reward of score functions.
    rewards: dict[str, list] = {}
    score_sites: list = []

    def add(layer, name, kind, term, stack, contribution):
        terms.setdefault(layer, []).append(SiteTerm(name, kind, term))
        rewards.setdefault(layer, []).append((stack, contribution))

    for name, site in model_trace.nodes.items():
        if site["type"] != "sample" or site_is_subsample(site):
            continue
        layer = site_layer(site)
        stack = site["cond_indep_stack"]
        if site["is_observed"]:
            log_p = _log_prob(site)
            add(layer, name, "observed", log_p.sum(), stack, log_p)
            continue
        if name not in guide_trace.nodes:  # guide_is_prior: log p - log q = 0
            continue
        guide_site = guide_trace.nodes[name]
        kl = _closed_form_kl(guide_site, site) if closed_form_kl else None
        if kl is not None:
            add(layer, name, "kl", -kl.sum(), stack, -kl)
            continue
        term, elbo, score = _monte_carlo_term(_log_prob(site), guide_site)
        add(layer, name, "monte_carlo", term, stack, elbo)
        if score is not None:
            score_sites.append((layer, guide_site, score))

    layers = guide_site_layers(model_trace, guide_trace)
    for name, guide_site in guide_trace.nodes.items():
        if name not in layers or name in model_trace.nodes:
            continue
        layer = layers[name]
        term, elbo, score = _monte_carlo_term(0.0, guide_site)
        add(layer, name, "auxiliary", term, guide_site["cond_indep_stack"], elbo)
        if score is not None:
            score_sites.append((layer, guide_site, score))

    # Score-function surrogates: each site's reward is its own layer's ELBO.
    for layer, guide_site, score in score_sites:
        log_r = MultiFrameTensor(*((s, c.detach()) for s, c in rewards[layer]))
        surrogate = (log_r.sum_to(guide_site["cond_indep_stack"]) * score).sum()
        terms[layer].append(
            SiteTerm(guide_site["name"], "score_function", surrogate - surrogate.detach())
        )
    return terms


def layer_losses_from_terms(terms: dict[str, list[SiteTerm]]) -> dict[str, torch.Tensor]:
    """Negative ELBO per layer: minus the sum of the layer's site terms."""
    return {layer: -sum(t.value for t in ts) for layer, ts in terms.items()}


def check_finite(losses: dict[str, float], terms: dict[str, list[SiteTerm]]) -> None:
    """
    Raises :class:`NonFiniteLossError` naming the first layer whose loss is NaN or
    infinite, and the sites that made it so.
    """
    for layer, value in losses.items():
        if math.isfinite(value):
            continue
        bad = [
            (t.site, t.kind, float(t.value.detach()))
            for t in terms.get(layer, [])
            if not torch.isfinite(t.value.detach()).all()
        ]
        raise NonFiniteLossError(layer, value, bad)


class LocalELBO:
    """
    The evidence lower bound split into one term per layer, for local learning.

    Every sample site carries the layer that :func:`pyro_local.poutine.layer`
    assigned it (sites outside every layer form the ``"global"`` term). For layer
    ``l`` the term is the model's log-probabilities of the layer's sites minus the
    guide's, with the KL of a latent site in closed form wherever one is registered
    with torch (so :class:`~pyro_local.distributions.RectifiedNormal` and
    :class:`~pyro_local.distributions.MatrixNormal` sites get exact KLs), Monte Carlo
    otherwise. Plates, subsampling scales, masks and ``num_particles`` behave as in
    Pyro's :class:`~pyro.infer.TraceMeanField_ELBO` and
    :class:`~pyro.infer.Trace_ELBO`; the sum of the layer terms is their ELBO.

    No term reaches another layer's parameters unless the model lets a gradient
    cross a layer boundary; :class:`~pyro_local.infer.LocalSVI` checks that.

    Latent model sites marked ``infer={"guide_is_prior": True}`` need no guide site:
    their variational conditional is the model's own, so they add nothing to the ELBO
    and are sampled from the model (with pathwise gradients where reparameterizable).

    :param int num_particles: samples averaged per estimate.
    :param int max_plate_nesting: as in Pyro's ELBO; only used by validation.
    :param bool closed_form_kl: use registered KL divergences (default ``True``).
    """

    def __init__(self, num_particles=1, max_plate_nesting=math.inf, closed_form_kl=True):
        if not isinstance(num_particles, int) or num_particles < 1:
            raise ValueError(f"num_particles must be a positive int, got {num_particles!r}")
        self.num_particles = num_particles
        self.max_plate_nesting = max_plate_nesting
        self.closed_form_kl = closed_form_kl

    def particle_terms(self, model, guide, *args, **kwargs):
        """One particle's :func:`site_terms` for ``model`` and ``guide``."""
        model_trace, guide_trace = get_traces(
            model, guide, args, kwargs, self.max_plate_nesting
        )
        return site_terms(model_trace, guide_trace, self.closed_form_kl)

    def layer_terms(self, model, guide, *args, **kwargs) -> dict[str, list[SiteTerm]]:
        """Site terms of all particles, each scaled by ``1 / num_particles``."""
        out: dict[str, list[SiteTerm]] = {}
        with module_local_params(model, guide):
            for _ in range(self.num_particles):
                terms = self.particle_terms(model, guide, *args, **kwargs)
                for layer, ts in terms.items():
                    out.setdefault(layer, []).extend(
                        t._replace(value=t.value / self.num_particles) for t in ts
                    )
        return out

    def layer_losses(self, model, guide, *args, **kwargs) -> dict[str, torch.Tensor]:
        """
        The differentiable negative ELBO of each layer.

        :returns: ``{layer: loss}``, scalar tensors whose values estimate minus each
            layer's ELBO and whose gradients are those of the surrogate ELBO.
        """
        return layer_losses_from_terms(self.layer_terms(model, guide, *args, **kwargs))

    def differentiable_loss(self, model, guide, *args, **kwargs) -> torch.Tensor:
        """The sum of the layer losses: minus the whole model's ELBO."""
        return sum(self.layer_losses(model, guide, *args, **kwargs).values())

    def loss(self, model, guide, *args, **kwargs) -> float:
        """The negative ELBO as a float (no gradients are kept)."""
        with torch.no_grad():
            return float(self.differentiable_loss(model, guide, *args, **kwargs))

    def __call__(self, model, guide):
        """
        The loss as a :class:`torch.nn.Module` (as Pyro's ``ELBO.__call__``), so
        plain ``torch.optim`` loops work; its ``forward(*args, **kwargs)`` returns the
        summed loss and its parameters are those of ``model`` and ``guide``.
        """
        return LocalELBOModule(self, model, guide)


class LocalELBOModule(torch.nn.Module):
    """A :class:`LocalELBO` bound to a model and guide; see :meth:`LocalELBO.__call__`."""

    def __init__(self, elbo: LocalELBO, model, guide):
        super().__init__()
        self.elbo = elbo
        self.model = model
        self.guide = guide

    def forward(self, *args, **kwargs):
        return self.elbo.differentiable_loss(self.model, self.guide, *args, **kwargs)

    def layer_losses(self, *args, **kwargs):
        return self.elbo.layer_losses(self.model, self.guide, *args, **kwargs)


__all__ = [
    "GLOBAL",
    "LocalELBO",
    "SiteTerm",
    "get_traces",
    "guide_is_prior",
    "guide_site_layers",
    "replay",
    "site_terms",
]
