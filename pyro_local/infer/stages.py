"""The per-layer stages of one training step: the generator both of LocalSVI's modes consume."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import NamedTuple

import torch

from ..nn.network import LocalNet
from ..poutine import cut, layer
from .local_elbo import LocalELBO, Particle
from .site_terms import SiteTerm, layer_losses_from_terms, total


class Stage(NamedTuple):
    """
    One layer's part of a step.

    :param str layer: the layer's name.
    :param torch.Tensor loss: minus the layer's ELBO, differentiable.
    :param list terms: the layer's :class:`~pyro_local.infer.site_terms.SiteTerm` s.
    """

    layer: str
    loss: torch.Tensor
    terms: list[SiteTerm]


def to_device(value, device):
    """``value`` (a tensor, or tuples, named tuples, lists and dicts of them) on ``device``."""
    if device is None:
        return value
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # NamedTuple
        return type(value)(*(to_device(v, device) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(to_device(v, device) for v in value)
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    return value


def net_layer_particles(net: LocalNet, name: str, elbo: LocalELBO, inputs, args=(),
                        kwargs=None) -> list[Particle]:
    """
    Runs layer ``name`` of ``net`` once per particle of ``elbo``: its guide, then its
    model replayed against it, on that particle's input (cut from the graph), with
    every site labelled ``name``.

    :param list inputs: the layer's input per particle (``elbo.particle_count``).
    :returns: the :class:`~pyro_local.infer.local_elbo.Particle` s, whose ``terms``
        hold this layer's sites and whose ``output`` is the next layer's input.
    :raises ValueError: when the layer labels sites with another layer.
    """
    with layer(name):
        particles = list(
            elbo.particles(
                net.stage_model(name), net.stage_guide(name), args, kwargs,
                inputs=[cut(h) for h in inputs],
            )
        )
    stray = {k for p in particles for k in p.terms} - {name}
    if stray:
        raise ValueError(
            f"layer {name!r} of a LocalNet produced sites labelled {sorted(stray)}; "
            "each LocalNet layer is one layer: remove the inner layer() handlers"
        )
    return particles


def layer_stages(model, guide, elbo: LocalELBO, args, kwargs,
                 device_map: Mapping[str, torch.device] | None = None) -> Iterator[Stage]:
    """
    Yields a :class:`Stage` for every layer, in order. For a
    :class:`~pyro_local.nn.LocalNet` each layer runs only when the previous stage has
    been consumed, so a consumer can differentiate, step and free it first (sequential
    mode) or collect every stage (fused mode); a plain model marked with
    :func:`~pyro_local.poutine.layer` runs once, as a whole.

    :param dict device_map: ``{layer: device}``: a layer's inputs move there first.
    """
    if not isinstance(model, LocalNet):
        terms = elbo.layer_terms(model, guide, *args, **kwargs)
        for name, loss in layer_losses_from_terms(terms).items():
            yield Stage(name, loss, terms[name])
        return
    if not args:
        raise TypeError("a LocalNet step needs the network's input as first argument")
    device_map = device_map or {}
    inputs = [args[0]] * elbo.particle_count
    for name in model.names:
        device = device_map.get(name)
        particles = net_layer_particles(
            model, name, elbo, [to_device(h, device) for h in inputs],
            to_device(args[1:], device), to_device(kwargs, device),
        )
        terms = [t for p in particles for t in p.terms.get(name, [])]
        loss = -total(t.value for t in terms) if terms else torch.zeros((), device=device)
        inputs = [p.output for p in particles]
        yield Stage(name, loss, terms)
