"""An automatic mean-field guide that keeps the atom of rectified-Gaussian latents."""

from __future__ import annotations

import functools
from contextlib import ExitStack
from operator import attrgetter

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from pyro.distributions.util import sum_rightmost
from pyro.infer.autoguide import AutoGuide
from pyro.infer.autoguide.initialization import InitMessenger, init_to_feasible
from pyro.infer.autoguide.utils import deep_setattr, helpful_support_errors
from pyro.nn import PyroModule, PyroParam
from pyro.ops.tensor_utils import periodic_repeat
from torch.distributions import biject_to

from pyro_local.distributions import RectifiedNormal
from pyro_local.distributions.util import unwrapped


def rectified_base(fn) -> RectifiedNormal | None:
    """The :class:`RectifiedNormal` under ``fn``'s shape and mask wrappers, or ``None``."""
    fn = unwrapped(fn)
    return fn if isinstance(fn, RectifiedNormal) else None


def _init_loc(init_loc_fn, site):
    base = rectified_base(site["fn"])
    if base is None:
        return init_loc_fn(site)
    # The prior's median, relu(loc): a value in the support with no transform.
    value = site["fn"].sample().detach()
    return torch.relu(base.loc.detach()).expand(value.shape).clone()


class AutoRectifiedNormal(AutoGuide):
    """
    The mean-field guide of :class:`~pyro.infer.autoguide.AutoNormal`, except that
    every :class:`~pyro_local.distributions.RectifiedNormal` site gets a
    ``RectifiedNormal(loc, scale)`` of its own, with an atom at 0 like its prior.

    A generic autoguide maps a site's support to the real line, and no bijection
    keeps an atom: ``exp`` would give ``P(z = 0) = 0`` whatever the posterior says,
    so pyro-local makes them refuse rectified sites and points here. Use this guide
    wherever ``AutoNormal`` would go (``LocalSVI``, Pyro's ``SVI``, ``Predictive``);
    other latent sites get ``AutoNormal``'s normal in unconstrained space, with the
    same parameter names (``locs.<site>``, ``scales.<site>``). Sites are sampled in
    the model's order, so :class:`~pyro_local.infer.LocalELBO` takes every rectified
    site's KL in closed form (its single-sample Monte Carlo gradient is biased);
    with Pyro's SVI use ``TraceMeanField_ELBO`` for the same reason.

    A rectified site starts at its prior's location with ``init_scale`` times the
    prior's scale, so its atom starts near the prior's (at a location of 0, both
    have ``P(z = 0) = 1/2``).

    :param callable model: a Pyro model.
    :param callable init_loc_fn: initialization of the other sites, as for AutoNormal.
    :param float init_scale: initial scale of the other sites (in unconstrained
        space), and of rectified sites relative to their prior's scale.
    :param callable create_plates: as for AutoNormal (subsampling).

    Example::

        guide = AutoRectifiedNormal(model)
        svi = LocalSVI(model, guide, optim_args={"lr": 1e-2})
    """

    scale_constraint = constraints.softplus_positive

    def __init__(self, model, *, init_loc_fn=init_to_feasible, init_scale=0.1, create_plates=None):
        if not isinstance(init_scale, float) or not init_scale > 0:
            raise ValueError(f"init_scale: expected a positive float, got {init_scale!r}")
        self._init_scale = init_scale
        model = InitMessenger(functools.partial(_init_loc, init_loc_fn))(model)
        super().__init__(model, create_plates=create_plates)

    def _setup_prototype(self, *args, **kwargs):
        super()._setup_prototype(*args, **kwargs)
        self._event_dims = {}
        self._rectified = set()
        self.locs = PyroModule()
        self.scales = PyroModule()
        for name, site in self.prototype_trace.iter_stochastic_nodes():
            base = rectified_base(site["fn"])
            if base is None:
                with helpful_support_errors(site):
                    loc = biject_to(site["fn"].support).inv(site["value"].detach()).detach()
                scale = torch.full_like(loc, self._init_scale)
                event_dim = site["fn"].event_dim + loc.dim() - site["value"].dim()
            else:
                self._rectified.add(name)
                shape = site["value"].shape
                loc = base.loc.detach().expand(shape).clone()
                scale = (self._init_scale * base.scale.detach()).expand(shape).clone()
                event_dim = site["fn"].event_dim
            self._event_dims[name] = event_dim
            for frame in site["cond_indep_stack"]:  # full size when subsampled
                full_size = frame.full_size or frame.size
                if full_size != frame.size:
                    dim = frame.dim - event_dim
                    loc = periodic_repeat(loc, full_size, dim).contiguous()
                    scale = periodic_repeat(scale, full_size, dim).contiguous()
            deep_setattr(self.locs, name, PyroParam(loc, constraints.real, event_dim))
            deep_setattr(self.scales, name, PyroParam(scale, self.scale_constraint, event_dim))

    def forward(self, *args, **kwargs):
        """
        The guide, with the model's arguments.

        :returns: ``{site: value}``.
        """
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        plates = self._create_plates(*args, **kwargs)
        result = {}
        for name, site in self.prototype_trace.iter_stochastic_nodes():
            with ExitStack() as stack:
                for frame in site["cond_indep_stack"]:
                    if frame.vectorized:
                        stack.enter_context(plates[frame.name])
                loc, scale = attrgetter(name)(self.locs), attrgetter(name)(self.scales)
                event_dim = self._event_dims[name]
                if name in self._rectified:
                    fn = RectifiedNormal(loc, scale).to_event(event_dim)
                    result[name] = pyro.sample(name, fn)
                    continue
                unconstrained = pyro.sample(
                    name + "_unconstrained",
                    dist.Normal(loc, scale).to_event(event_dim),
                    infer={"is_auxiliary": True},
                )
                transform = biject_to(site["fn"].support)
                value = transform(unconstrained)
                # The log-Jacobian makes the Delta's density q's density of the value.
                log_density = transform.inv.log_abs_det_jacobian(value, unconstrained)
                log_density = sum_rightmost(
                    log_density, log_density.dim() - value.dim() + site["fn"].event_dim
                )
                result[name] = pyro.sample(
                    name, dist.Delta(value, log_density, event_dim=site["fn"].event_dim)
                )
        return result

    @torch.no_grad()
    def median(self, *args, **kwargs):
        """
        The median of every latent: ``relu(loc)`` for rectified sites.

        :returns: ``{site: tensor}``.
        """
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        out = {}
        for name, site in self.prototype_trace.iter_stochastic_nodes():
            loc = attrgetter(name)(self.locs)
            if name in self._rectified:
                out[name] = torch.relu(loc)
            else:
                out[name] = biject_to(site["fn"].support)(loc).clone()
        return out
