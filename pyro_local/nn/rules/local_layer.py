"""Turning a :class:`Stack` into a LocalNet of per-layer Pyro programs, one per local rule."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import NamedTuple

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.nn import PyroModule

from ..._checks import check_int
from ..network import LocalNet
from ..stack import Stack
from .contsup import ContextState, ContSup, first_state

#: The name of the output classifier's layer in the nets that :func:`local_net` builds.
OUTPUT = "output"


class LayerSpec(NamedTuple):
    """
    What a rule needs to build one layer's head.

    :param str name: the layer's name.
    :param int index: its position (0-based).
    :param tuple in_shape: the block's input shape (without the batch dimension).
    :param tuple out_shape: the block's output (activation) shape.
    :param int pool: the spatial pool size for heads on feature maps.
    :param int num_classes: the number of classes.
    :param int seed: seeds the head's fixed tensors (projections, bases).
    :param int in_pool: the pool size the layer below reads the input with (for the
        first layer, the layer's own ``pool``).
    :param int in_seed: the seed of the layer below (for the first layer, the
        network's seed): with ``in_pool`` it lets a head rebuild the fixed projection
        that the layer below applies to its own output, i.e. this layer's input (SVP's
        alignment target). ``None`` when there is no such layer.
    """

    name: str
    index: int
    in_shape: tuple
    out_shape: tuple
    pool: int | None
    num_classes: int
    seed: int
    in_pool: int | None = None
    in_seed: int | None = None


def _data_scale(num_data, batch_size):
    """Scales the objective's sites from a batch to the data set (``num_data``)."""
    if num_data is None:
        return contextlib.nullcontext()
    return poutine.scale(scale=num_data / batch_size)


class _ContextMixin:
    """Input and output of a layer, with or without a ContSup context path."""

    def _setup_context(self, contsup: ContSup | None, context, first: bool):
        self.contsup = contsup
        self.first = first
        self.context = context

    def _input(self, h):
        if self.contsup is None or self.first:
            return h
        if not isinstance(h, ContextState):
            raise TypeError(f"a ContSup layer after the first expects a ContextState, got "
                            f"{type(h).__name__}")
        return self.context(h)

    def _output(self, h, h_in, out):
        if self.contsup is None:
            return out
        if self.first:
            return first_state(h_in, out, self.contsup.input, self.contsup.residual)
        return self.context.advance(h, h_in, out)


class LocalLayer(_ContextMixin, PyroModule):
    """
    One layer of a locally trained network: ``block`` computes the activation from
    the (cut) input, ``head`` emits the local objective's sites and returns the
    activation passed on. With a ContSup ``context`` module the input is the
    :class:`~pyro_local.nn.rules.contsup.ContextState` from the layer below plus encoded context.
    It is a PyroModule, so a Bayesian block's sites and parameters are named under
    the layer (``"l1.block.layer.weight"``): the layers of a network never share one.

    :param torch.nn.Module block: the layer's computation.
    :param callable head: a :class:`~pyro_local.nn.LocalHead` (or any callable
        ``head(a, y, h) -> activation`` emitting Pyro sites).
    :param ContSup contsup: the context configuration, or ``None``.
    :param context: this layer's :class:`~pyro_local.nn.rules.contsup.ContextSupplyModule`.
    :param bool first: whether this is the network's first layer.
    :param int num_data: scale the objective's sites (not the block's) by
        ``num_data / batch size``, so that the likelihood is that of the data set, as a
        Bayesian block's KL term needs; ``None`` leaves them summed over the batch.
    """

    def __init__(self, block, head, contsup=None, context=None, first=False, num_data=None):
        super().__init__()
        self.block = block
        self.head = head
        self.num_data = None if num_data is None else check_int(num_data, "num_data")
        self._setup_context(contsup, context, first)

    def forward(self, h, y=None):
        h_in = self._input(h)
        a = self.block(h_in)
        with _data_scale(self.num_data, a.shape[0]):
            z = self.head(a, y, h_in)
        return self._output(h, h_in, z)

    def deterministic(self, h):
        """The layer at inference: no sites, no noise (SVP's activation is its mean)."""
        h_in = self._input(h)
        return self._output(h, h_in, self.block(h_in))


class OutputLayer(_ContextMixin, PyroModule):
    """
    The output classifier as a local layer: the label's likelihood under its logits,
    on the (cut) features of the last block; returns the logits.
    """

    def __init__(self, classifier, contsup=None, context=None, num_data=None):
        super().__init__()
        self.classifier = classifier
        self.num_data = None if num_data is None else check_int(num_data, "num_data")
        self._setup_context(contsup, context, False)

    def forward(self, h, y=None):
        logits = self.classifier(self._input(h))
        with _data_scale(self.num_data, logits.shape[0]), pyro.plate("data", logits.shape[0]):
            pyro.sample("y", dist.Categorical(logits=logits), obs=y)
        return logits

    def deterministic(self, h):
        return self.classifier(self._input(h))


class BackpropLayer(PyroModule):
    """The whole :class:`Stack` as one layer: trained end to end on the output's loss."""

    def __init__(self, stack: Stack, num_data=None):
        super().__init__()
        self.stack = stack
        self.num_data = None if num_data is None else check_int(num_data, "num_data")

    def forward(self, x, y=None):
        logits = self.stack(x)
        with _data_scale(self.num_data, logits.shape[0]), pyro.plate("data", logits.shape[0]):
            pyro.sample("y", dist.Categorical(logits=logits), obs=y)
        return logits

    def deterministic(self, x):
        return self.stack(x)


def layer_specs(stack: Stack, seed: int = 0) -> list[LayerSpec]:
    """The :class:`LayerSpec` of every block of ``stack``."""
    names = stack.names
    return [
        LayerSpec(name, i, stack.in_shapes[name], stack.shapes[name], stack.pools[name],
                  stack.num_classes, seed + 1000 * (i + 1),
                  in_pool=stack.pools[names[i - 1] if i else name], in_seed=seed + 1000 * i)
        for i, name in enumerate(names)
    ]


def local_net(stack: Stack, heads: Callable, context: ContSup | None = None,
              seed: int = 0, num_data: int | None = None,
              guide_builder: Callable | None = None) -> LocalNet:
    """
    A :class:`~pyro_local.nn.LocalNet` that trains ``stack`` with a local rule:
    one layer per block, each with the head ``heads(spec)`` builds for it, and a
    last layer ``"output"`` training the classifier on the last block's cut output.
    The blocks and classifier are ``stack``'s own modules (shared, not copied), so
    the trained ``stack`` can be used directly, except under ContSup, whose encoders
    live in the layers: use :func:`predict`.

    :param Stack stack: the network.
    :param callable heads: a rule, ``spec -> head``: :class:`~pyro_local.nn.GreedyHeads`,
        :class:`~pyro_local.nn.SVP`, :class:`~pyro_local.nn.LLS`, or any callable
        returning a :class:`~pyro_local.nn.LocalHead`.
    :param ContSup context: add ContSup's context path to every layer but the first.
    :param int seed: seeds the heads' fixed projections and bases.
    :param int num_data: the training set's size: scales every objective from the
        batch to the data set (needed when blocks are Bayesian, whose KL terms are
        per data set); ``None`` (default) sums over the batch.
    :param callable guide_builder: ``layer model -> guide`` for layers with latent
        sites, e.g. :class:`~pyro_local.guides.AutoMatrixNormal` for Bayesian blocks
        (it may return ``None`` for a layer without any); see
        :class:`~pyro_local.nn.LocalNet`.

    Example::

        from pyro_local.models import small_conv
        net = local_net(small_conv(), LLS(waveform="square"))
        svi = LocalSVI(net, mode="sequential", optim_args={"lr": 1e-3})
        svi.step(x, y)
    """
    if not isinstance(stack, Stack):
        raise TypeError(f"stack: expected a pyro_local.nn.Stack, got {type(stack).__name__}")
    if not callable(heads):
        raise TypeError(f"heads: expected a rule (spec -> head), got {heads!r}")
    if context is not None and not isinstance(context, ContSup):
        raise TypeError(f"context: expected a ContSup or None, got {context!r}")
    specs = layer_specs(stack, seed)
    in_shapes = [s.in_shape for s in specs]
    last_shape = specs[-1].out_shape
    layers = {}
    for spec in specs:
        ctx = None if context is None else context.module(spec.index, stack.input_shape, in_shapes)
        layers[spec.name] = LocalLayer(stack.blocks[spec.name], heads(spec), context, ctx,
                                       first=spec.index == 0, num_data=num_data)
    if OUTPUT in layers:
        raise ValueError(f"block name {OUTPUT!r} is reserved for the output layer")
    ctx = None
    if context is not None:
        ctx = context.module(len(specs), stack.input_shape, [*in_shapes, last_shape])
    layers[OUTPUT] = OutputLayer(stack.classifier, context, ctx, num_data)
    return LocalNet(layers, guide_builder=guide_builder)


def backprop_net(stack: Stack, num_data: int | None = None) -> LocalNet:
    """
    ``stack`` trained end to end (the reference for local rules): a
    :class:`~pyro_local.nn.LocalNet` of a single layer ``"net"`` whose loss is the
    output's cross-entropy; under :class:`~pyro_local.infer.LocalSVI` it is backprop.
    """
    if not isinstance(stack, Stack):
        raise TypeError(f"stack: expected a pyro_local.nn.Stack, got {type(stack).__name__}")
    return LocalNet({"net": BackpropLayer(stack, num_data)})


def predict(net: LocalNet, x: torch.Tensor) -> torch.Tensor:
    """
    The logits of a network built by :func:`local_net` or :func:`backprop_net`, run
    deterministically (no sites, SVP's noise off). Call it under ``torch.no_grad()``
    with the net in eval mode to use batch-norm running statistics.
    """
    h = x
    for name in net.names:
        h = net.stage_model(name).deterministic(h)
    return h


__all__ = ["OUTPUT", "BackpropLayer", "LayerSpec", "LocalLayer", "OutputLayer", "backprop_net",
           "layer_specs", "local_net", "predict"]
