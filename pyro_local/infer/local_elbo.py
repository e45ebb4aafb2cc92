"""The ELBO split into one term per layer, as a Pyro ELBO."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

import pyro
import torch
from pyro.infer import ELBO
from pyro.infer.elbo import ELBOModule
from pyro.infer.util import is_validation_enabled

from .._checks import check_int
from ..poutine.layer_messenger import GLOBAL
from .errors import NonFiniteLossError
from .site_terms import (
    SiteTerm,
    average_terms,
    check_finite,
    layer_losses_from_terms,
    site_terms,
)
from .traces import get_traces, guide_is_prior


def _no_guide(*args, **kwargs):
    pass


class Particle(NamedTuple):
    """
    One particle of a :class:`LocalELBO` estimate.

    :param dict terms: ``{layer: [SiteTerm, ...]}``, each value already divided by
        the number of particles.
    :param output: the model's return value (a :class:`~pyro_local.nn.LocalNet`
        layer's output, which the next layer's particle takes as input).
    """

    terms: dict[str, list[SiteTerm]]
    output: object


class LocalELBO(ELBO):
    """
    The evidence lower bound split into one term per layer, for local learning.

    Every sample site carries the layer that :func:`pyro_local.poutine.layer`
    assigned it (sites outside every layer form the ``"global"`` term). For layer
    ``l`` the term is the model's log-probabilities of the layer's sites minus the
    guide's. A latent's term is its KL in closed form where that is exactly the site's
    expected ``log p - log q`` (see ``pyro_local.infer.site_terms``): a
    reparameterized guide distribution that is not a point mass, a KL registered with
    torch (so :class:`~pyro_local.distributions.RectifiedNormal` and
    :class:`~pyro_local.distributions.MatrixNormal` sites get exact KLs), and no
    model parent sampled after the site in the guide. Otherwise it is Monte Carlo, as
    in :class:`~pyro.infer.Trace_ELBO`, with the score function for
    non-reparameterized sites. Autoguides' sites (a ``Delta`` carrying the
    log-Jacobian of their transform) are therefore Monte Carlo, exactly as in
    ``Trace_ELBO``. The sum of the layer terms is the whole ELBO.

    It is a Pyro :class:`~pyro.infer.ELBO`: ``pyro.infer.SVI(model, guide, optim,
    LocalELBO())`` trains the sum of the layer terms jointly (one optimizer, no leak
    check), ``LocalELBO()(model, guide)`` is a ``torch.nn.Module``, and
    :class:`~pyro_local.infer.LocalSVI` steps each layer on its own term. As Pyro's
    ELBOs it uses Pyro's parameter settings (``module_local_params``) as they are.

    Latent model sites marked ``infer={"guide_is_prior": True}`` need no guide site:
    their variational conditional is the model's own, so they add nothing to the ELBO
    and are sampled from the model (with pathwise gradients where reparameterizable).
    Sites marked for enumeration are refused (use ``TraceEnum_ELBO``).

    A loss that is NaN or infinite raises
    :class:`~pyro_local.infer.NonFiniteLossError` naming the layer and the sites,
    also where Pyro's validation stops a NaN earlier with a distribution's argument
    check.

    :param int num_particles: samples averaged per estimate.
    :param int max_plate_nesting: as in Pyro's ELBO; needed by
        ``vectorize_particles`` (guessed from one run when omitted).
    :param bool vectorize_particles: draw the particles in one run, in a plate at
        ``dim=-max_plate_nesting`` (the model must broadcast, as in Pyro).
    :param bool closed_form_kl: use registered KL divergences where they are exact
        (default ``True``).
    :param bool retain_graph: as in Pyro's ELBO, for :meth:`loss_and_grads`.
    """

    def __init__(
        self,
        num_particles=1,
        max_plate_nesting=math.inf,
        vectorize_particles=False,
        closed_form_kl=True,
        retain_graph=None,
    ):
        check_int(num_particles, "num_particles")
        super().__init__(
            num_particles=num_particles,
            max_plate_nesting=max_plate_nesting,
            vectorize_particles=vectorize_particles,
            retain_graph=retain_graph,
        )
        self.closed_form_kl = closed_form_kl

    def _get_trace(self, model, guide, args, kwargs):
        return get_traces(model, guide, args, kwargs, self.max_plate_nesting)

    @property
    def particle_count(self) -> int:
        """How many runs :meth:`particles` makes: 1 when vectorized."""
        return 1 if self.vectorize_particles else self.num_particles

    def particles(self, model, guide, args=(), kwargs=None, inputs=None) -> Iterator[Particle]:
        """
        The particles of one estimate, one run of guide and model each (one run in
        all with ``vectorize_particles``): the library's one particle loop, which
        :meth:`layer_terms` and :class:`~pyro_local.infer.LocalSVI`'s layer-by-layer
        steps of a :class:`~pyro_local.nn.LocalNet` both consume.

        :param tuple args: the model's and guide's positional arguments.
        :param dict kwargs: their keyword arguments.
        :param list inputs: optionally, a first positional argument per particle
            (:attr:`particle_count` of them), such as the outputs of a network's
            previous layer, particle by particle.
        :returns: an iterator of ``Particle`` named tuples.
        """
        kwargs = kwargs or {}
        if inputs is not None and len(inputs) != self.particle_count:
            raise ValueError(f"expected {self.particle_count} inputs, got {len(inputs)}")
        if self.vectorize_particles:
            if self.max_plate_nesting == math.inf:
                first = args if inputs is None else (inputs[0], *args)
                self._guess_max_plate_nesting(model, guide or _no_guide, first, kwargs)
            model = self._vectorized_num_particles(model)
            guide = None if guide is None else self._vectorized_num_particles(guide)
        for i in range(self.particle_count):
            run_args = args if inputs is None else (inputs[i], *args)
            try:
                model_trace, guide_trace = self._get_trace(model, guide, run_args, kwargs)
                terms = site_terms(model_trace, guide_trace, self.closed_form_kl)
            except ValueError as error:
                self._name_invalid_values(error, model, guide, run_args, kwargs)
                raise
            yield Particle(
                average_terms(terms, self.num_particles), model_trace.nodes["_RETURN"]["value"]
            )

    def _name_invalid_values(self, error, model, guide, args, kwargs) -> None:
        """
        Pyro's validation stops a NaN at the first distribution whose argument or
        value it makes invalid, with a message that names neither the layer nor the
        site. Run the particle again without validation (no gradients, random state
        restored) and raise :class:`NonFiniteLossError` for the site terms that are not
        finite; return if there are none (another invalid value: the caller re-raises).
        """
        if not (is_validation_enabled() and "found invalid values" in str(error)):
            return
        with pyro.validation_enabled(False), torch.no_grad(), torch.random.fork_rng():
            try:
                model_trace, guide_trace = self._get_trace(model, guide, args, kwargs)
                terms = site_terms(model_trace, guide_trace, self.closed_form_kl)
            except Exception:
                return
        losses = {k: float(v) for k, v in layer_losses_from_terms(terms).items()}
        note = "Pyro's validation: " + str(error).split("\n", 1)[0]
        try:
            check_finite(losses, terms, note)
        except NonFiniteLossError as named:
            raise named from error

    def layer_terms(self, model, guide, *args, **kwargs) -> dict[str, list[SiteTerm]]:
        """Site terms of all particles, each divided by ``num_particles``."""
        out: dict[str, list[SiteTerm]] = {}
        for particle in self.particles(model, guide, args, kwargs):
            for layer, ts in particle.terms.items():
                out.setdefault(layer, []).extend(ts)
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

    def _checked_total(self, model, guide, args, kwargs):
        terms = self.layer_terms(model, guide, *args, **kwargs)
        losses = layer_losses_from_terms(terms)
        total = sum(losses.values())
        value = total.detach().item() if torch.is_tensor(total) else float(total)
        if not math.isfinite(value):
            check_finite({k: float(v.detach()) for k, v in losses.items()}, terms)
        return total, value

    def loss(self, model, guide, *args, **kwargs) -> float:
        """
        The negative ELBO as a float (no gradients are kept).

        :raises NonFiniteLossError: when it is NaN or infinite.
        """
        with torch.no_grad():
            return self._checked_total(model, guide, args, kwargs)[1]

    def loss_and_grads(self, model, guide, *args, **kwargs) -> float:
        """
        The negative ELBO as a float, after backpropagating the surrogate loss of all
        layers together (what :class:`pyro.infer.SVI` calls).

        :raises NonFiniteLossError: when it is NaN or infinite, before any gradient.
        """
        total, value = self._checked_total(model, guide, args, kwargs)
        if torch.is_tensor(total) and total.requires_grad:
            total.backward(retain_graph=self.retain_graph)
        return value

    def __call__(self, model, guide) -> LocalELBOModule:
        """
        The loss as a :class:`torch.nn.Module` (as Pyro's ``ELBO.__call__``), so
        plain ``torch.optim`` loops work; its ``forward(*args, **kwargs)`` returns the
        summed loss and its parameters are those of ``model`` and ``guide``.
        """
        return LocalELBOModule(model, guide, self)


class LocalELBOModule(ELBOModule):
    """A :class:`LocalELBO` bound to a model and guide; see :meth:`LocalELBO.__call__`."""

    def layer_losses(self, *args, **kwargs):
        """``{layer: loss}`` on a batch; see :meth:`LocalELBO.layer_losses`."""
        return self.elbo.layer_losses(self.model, self.guide, *args, **kwargs)


__all__ = [
    "GLOBAL",
    "LocalELBO",
    "Particle",
    "SiteTerm",
    "get_traces",
    "guide_is_prior",
    "site_terms",
]
