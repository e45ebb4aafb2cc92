"""One particle's ELBO split into per-site terms, grouped by layer."""

from __future__ import annotations

import functools
import math
import operator
from typing import NamedTuple

import torch
from pyro.distributions import Delta
from pyro.distributions.kl import kl_divergence
from pyro.distributions.util import is_identically_zero, scale_and_mask
from pyro.infer.util import MultiFrameTensor, is_validation_enabled
from pyro.poutine.util import site_is_subsample
from pyro.util import check_site_shape

from ..distributions.util import unwrapped
from ..poutine.layer_messenger import guide_site_layers, site_layer
from .errors import NonFiniteLossError
from .traces import check_no_enumeration, guide_is_prior, missing_guide_site_error

# The guide flag of a weight site whose value local reparameterization defers
# (pyro_local.nn.deferred.LOCAL_REPARAM): its value is not a sample, so its KL must
# be taken in closed form.
_DEFERRED = "local_reparam"


class SiteTerm(NamedTuple):
    """
    One site's contribution to its layer's ELBO.

    :param str site: the site's name.
    :param str kind: ``"observed"`` (model log-likelihood), ``"kl"`` (closed-form
        KL), ``"monte_carlo"`` (log p - log q at the sampled value),
        ``"auxiliary"`` (an auxiliary guide site's -log q) or ``"score_function"``
        (the surrogate of a non-reparameterized site; value 0).
    :param torch.Tensor value: a scalar whose value is the contribution to the ELBO
        and whose gradient is that of the surrogate ELBO.
    """

    site: str
    kind: str
    value: torch.Tensor


def _log_prob(site):
    log_p = site["fn"].log_prob(site["value"], *site["args"], **site["kwargs"])
    log_p = scale_and_mask(log_p, site["scale"], site["mask"])
    if is_validation_enabled() and torch.is_tensor(log_p):
        site["log_prob"] = log_p
        check_site_shape(site, math.inf)  # batch dims must line up with the plates
    return log_p


def _closed_form_kl(guide_site, model_site):
    """
    ``KL(q || p)`` of the site, scaled and masked, when that is exactly the site's
    term of the ELBO; ``None`` otherwise. It is not for a guide site that is not
    reparameterized (downstream terms need its score function), nor for a point mass:
    autoguides (``AutoNormal``, ``AutoDiagonalNormal``, ...) write their sample as a
    ``Delta`` carrying the log-Jacobian of the transform to the site's support as
    ``log_density``, which ``KL(Delta || p) = -log p(value)`` would drop.
    """
    fn = guide_site["fn"]
    if not fn.has_rsample or isinstance(unwrapped(fn), Delta):
        return None
    try:
        kl = kl_divergence(fn, model_site["fn"])
    except NotImplementedError:
        return None
    kl = scale_and_mask(kl, guide_site["scale"], guide_site["mask"])
    if not torch.is_tensor(kl):
        kl = torch.full(fn.batch_shape, float(kl))
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


def _guide_positions(guide_trace) -> dict[str, int]:
    sites = (n for n, s in guide_trace.nodes.items() if s["type"] == "sample")
    return {name: i for i, name in enumerate(sites)}


def site_terms(model_trace, guide_trace, closed_form_kl=True) -> dict[str, list[SiteTerm]]:
    """
    Splits one particle's ELBO into per-site terms, grouped by layer.

    A latent site belongs to the layer of its model site; an auxiliary guide site to
    its own label or the layer of the latent it helps to produce (see
    :func:`~pyro_local.poutine.layer_messenger.guide_site_layers`). A latent's term is its KL in
    closed form where that is exactly the site's expected ``log p - log q``: the guide
    site is reparameterized and not a point mass (see :func:`_closed_form_kl`), a KL is
    registered with torch, and every latent that precedes the site in the model also
    precedes it in the guide, so that none of the site's model parents can depend on
    it under the guide (the condition of :class:`~pyro.infer.TraceMeanField_ELBO`,
    checked per site). Otherwise the term is ``log p - log q`` at the sample, with
    the score-function surrogate of :class:`~pyro.infer.Trace_ELBO` for
    non-reparameterized sites, whose reward is the layer's own ELBO (plate-aware, as
    Pyro's ``log_r``).

    :param bool closed_form_kl: allow closed-form KLs (``False``: Monte Carlo for every
        site whose value is a sample).
    :returns: ``{layer: [SiteTerm, ...]}`` in the order sites were visited.
    """
    terms: dict[str, list[SiteTerm]] = {}
    # Per layer: (plate stack, ELBO contribution) pairs, the reward of score functions.
    rewards: dict[str, list] = {}
    score_sites: list = []
    positions = _guide_positions(guide_trace)
    latest = -1  # the latest guide position among the latents visited so far

    def add(layer, name, kind, term, stack, contribution, sign=1):
        terms.setdefault(layer, []).append(SiteTerm(name, kind, term))
        # The contribution is negated only if a score function needs it as reward.
        rewards.setdefault(layer, []).append((stack, contribution, sign))

    for name, site in model_trace.nodes.items():
        if site["type"] != "sample" or site_is_subsample(site):
            continue
        layer = site_layer(site)
        stack = site["cond_indep_stack"]
        if site["is_observed"]:
            log_p = _log_prob(site)
            add(layer, name, "observed", log_p.sum(), stack, log_p)
            continue
        if name not in guide_trace.nodes:
            if guide_is_prior(site):  # log p - log q = 0
                continue
            check_no_enumeration(model_trace)
            raise missing_guide_site_error([name])
        guide_site = guide_trace.nodes[name]
        in_order, latest = latest < positions[name], max(latest, positions[name])
        kl = None
        if guide_site["infer"].get(_DEFERRED) or (closed_form_kl and in_order):
            kl = _closed_form_kl(guide_site, site)
        if kl is not None:
            add(layer, name, "kl", -(kl if kl.dim() == 0 else kl.sum()), stack, kl, -1)
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
        log_r = MultiFrameTensor(*((s, sign * c.detach()) for s, c, sign in rewards[layer]))
        surrogate = (log_r.sum_to(guide_site["cond_indep_stack"]) * score).sum()
        terms[layer].append(
            SiteTerm(guide_site["name"], "score_function", surrogate - surrogate.detach())
        )
    return terms


def average_terms(terms: dict[str, list[SiteTerm]], count: int) -> dict[str, list[SiteTerm]]:
    """``terms`` with every value divided by ``count``, one particle's share."""
    if count == 1:
        return terms
    return {k: [t._replace(value=t.value / count) for t in ts] for k, ts in terms.items()}


def layer_losses_from_terms(terms: dict[str, list[SiteTerm]]) -> dict[str, torch.Tensor]:
    """Negative ELBO per layer: minus the sum of the layer's site terms."""
    return {layer: -total(t.value for t in ts) for layer, ts in terms.items()}


def total(values):
    """The sum of tensors (``sum`` would add an extra 0 + first, one more autograd node)."""
    return functools.reduce(operator.add, values)


def check_finite(losses: dict[str, float], terms: dict[str, list[SiteTerm]], note=None) -> None:
    """
    Raises :class:`NonFiniteLossError` naming the first layer whose loss is NaN or
    infinite, and the sites that made it so (``note`` is appended to the message).
    """
    for layer, value in losses.items():
        if math.isfinite(value):
            continue
        bad = [
            (t.site, t.kind, float(t.value.detach()))
            for t in terms.get(layer, [])
            if not torch.isfinite(t.value.detach()).all()
        ]
        raise NonFiniteLossError(layer, value, bad, note)
