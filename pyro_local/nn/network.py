"""A network given as a sequence of per-layer Pyro programs: structure only, no inference."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

import torch
from pyro import poutine
from pyro.nn import PyroModule, pyro_method
from pyro.poutine.messenger import Messenger

from ..poutine import cut, layer


def _exposes_prior_latent(msg) -> bool:
    # A latent marked guide_is_prior (see pyro_local.infer.traces.guide_is_prior) is sampled
    # in the guide with the model's own distribution.
    return (msg["type"] == "sample" and not msg["is_observed"]
            and bool(msg["infer"].get("guide_is_prior", False)))


def site_name(layer: str, site: str) -> str:
    """
    The name that layer ``layer``'s sample site ``site`` has in the whole-network
    program (:meth:`LocalNet.model`, :meth:`LocalNet.guide`): ``"l2.y"`` for layer
    ``"l2"``'s ``"y"``. A name that already starts with ``"<layer>."`` (a PyroModule
    layer's own ``"l1.weight"``) keeps it.

    :param str layer: the layer's name.
    :param str site: the site's name inside the layer's program.
    :rtype: str
    """
    prefix = layer + "."
    return site if site.startswith(prefix) else prefix + site


class _LayerPrefix(Messenger):
    """
    Renames every sample site to its :func:`site_name` in layer ``name``, so that
    layers may reuse site names ("y", a plate "data") in the whole-network program.
    """

    def __init__(self, name):
        super().__init__()
        self.layer = name

    def _process_message(self, msg):
        if msg["type"] == "sample":
            msg["name"] = site_name(self.layer, msg["name"])


class LocalNet(PyroModule):
    """
    A network as a sequence of layers, each an ordinary Pyro program
    ``model_l(h, *args, **kwargs) -> output`` that takes the previous layer's output
    ``h`` (the network's input for the first layer) and the batch's remaining
    arguments (labels, say), with an optional guide of the same signature for its
    latent sites. One definition serves both of
    the modes of :class:`~pyro_local.infer.LocalSVI`: ``fused`` runs all layers and
    steps once, ``sequential`` runs, differentiates and steps one layer at a time.

    Each layer's input is cut from the graph (:func:`pyro_local.poutine.cut`), and
    every site of layer ``l`` is labelled ``l`` (:func:`pyro_local.poutine.layer`).

    :meth:`model` and :meth:`guide` are the whole network as one ordinary Pyro
    model/guide pair, for :class:`~pyro.infer.Predictive`, Pyro's ``SVI`` and the
    diagnostics. There, site names get the layer's name as prefix where they lack
    it (layer ``l2``'s ``"y"`` becomes ``"l2.y"``), so that layers may reuse names.
    The whole guide runs each layer's guide and then that layer's model (blocked)
    to compute the next layer's input, so it costs a second forward pass;
    latent sites marked ``guide_is_prior`` are sampled there as guide sites with the
    model's own distribution, which adds exactly nothing to the ELBO.

    :param layers: ``{name: model}`` in network order (or a sequence of
        ``(name, model)`` pairs); models are callables, usually PyroModules.
    :param guides: optional ``{name: guide}`` for layers with guided latents.
    :param callable guide_builder: optional ``model -> guide`` applied to every layer
        without an explicit guide, e.g. ``functools.partial(AutoNormal,
        init_scale=1e-2)``; it may return ``None`` for a layer that needs none.

    Example::

        net = LocalNet({"l1": Block(784, 256), "l2": Block(256, 256)})
        svi = LocalSVI(net, mode="sequential", optim_args={"lr": 1e-3})
        svi.step(x, y)   # each block's model(h, y) -> next h
    """

    def __init__(
        self,
        layers: Mapping[str, Callable] | Sequence[tuple[str, Callable]],
        guides: Mapping[str, Callable] | None = None,
        guide_builder: Callable | None = None,
    ):
        super().__init__()
        layers = OrderedDict(layers)
        if not layers:
            raise ValueError("LocalNet needs at least one layer, got none")
        guides = dict(guides or {})
        unknown = set(guides) - set(layers)
        if unknown:
            raise ValueError(
                f"guides given for unknown layers {sorted(unknown)}; layers are {list(layers)}"
            )
        for name, fn in layers.items():
            if not callable(fn):
                raise TypeError(f"layer {name!r}: expected a callable model, got {fn!r}")
            if name not in guides and guide_builder is not None:
                guides[name] = guide_builder(fn)
        reserved = set(dir(type(self)))
        for name in layers:
            if not (isinstance(name, str) and name.isidentifier()) or name in reserved:
                raise ValueError(
                    f"layer names must be Python identifiers other than LocalNet's own "
                    f"attributes, got {name!r}"
                )
        self._names = tuple(layers)
        self._fn_models: dict[str, Callable] = {}
        self._fn_guides: dict[str, Callable] = {}
        # Module layers become attributes named after the layer, so that a PyroModule
        # layer's sites and parameters get the layer's name as prefix ("l1.weight").
        for name, fn in layers.items():
            self._set_stage(name, fn, self._fn_models, name)
        for name, fn in guides.items():
            if fn is not None:
                self._set_stage(self._guide_attr(name), fn, self._fn_guides, name)

    @staticmethod
    def _guide_attr(name):
        return f"{name}_guide"

    def _set_stage(self, attr, fn, fallback, name):
        if isinstance(fn, torch.nn.Module):
            if attr in self._names and fallback is self._fn_guides:
                raise ValueError(f"layer name {attr!r} clashes with the guide of layer {name!r}")
            setattr(self, attr, fn)
            getattr(self, attr)  # fixes a PyroModule's name prefix now
        else:
            fallback[name] = fn

    @property
    def names(self) -> tuple[str, ...]:
        """The layers' names, in network order."""
        return self._names

    def stage_model(self, name: str):
        """The model of layer ``name``."""
        if name in self._fn_models:
            return self._fn_models[name]
        return self._stage(name)

    def stage_guide(self, name: str):
        """The guide of layer ``name``, or ``None``."""
        if name in self._fn_guides:
            return self._fn_guides[name]
        return self._stage(self._guide_attr(name))

    def _stage(self, attr):
        # A PyroModule stage is read from torch's module table: PyroModule's
        # __getattr__ (and the AttributeError of a layer without a guide) cost more
        # than the rest of a small layer's bookkeeping, and its name was fixed when
        # it was set (_set_stage). A plain nn.Module goes through __getattr__, whose
        # pyro.module statement registers its parameters with Pyro's SVI.
        module = self._modules.get(attr)
        if module is None or isinstance(module, PyroModule):
            return module
        return getattr(self, attr)

    @pyro_method
    def model(self, x, *args, **kwargs):
        """The whole network as one Pyro model; returns the last layer's output."""
        h = x
        for name in self._names:
            with layer(name), _LayerPrefix(name):
                h = self.stage_model(name)(cut(h), *args, **kwargs)
        return h

    @pyro_method
    def guide(self, x, *args, **kwargs):
        """The whole network's guide; see the class docstring."""
        h = x
        for name in self._names:
            h = cut(h)
            with layer(name), _LayerPrefix(name):
                guide = self.stage_guide(name)
                if guide is None:
                    trace = poutine.Trace()
                else:
                    trace = poutine.trace(guide).get_trace(h, *args, **kwargs)
                # Pyro's own replay suffices: the layer label is set by the layer()
                # handler around it, and the replayed sites are hidden anyway. The
                # prefix goes inside the replay so that it matches the guide trace's
                # names ("l1.z"), which were prefixed the same way.
                forward = poutine.block(
                    poutine.replay(_LayerPrefix(name)(self.stage_model(name)), trace=trace),
                    hide_fn=lambda msg: not _exposes_prior_latent(msg),
                )
                h = forward(h, *args, **kwargs)
        return h

    def forward(self, x, *args, **kwargs):
        return self.model(x, *args, **kwargs)
