"""A feed-forward network described as named blocks and an output classifier."""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import pyro
import torch
from pyro import poutine

from .features import check_pool
from .local_reparam_messenger import local_reparameterization


class Stack(torch.nn.Module):
    """
    A network as a sequence of named blocks followed by a classifier: the unit that
    local learning rules cut at block boundaries (see
    :func:`~pyro_local.nn.local_net`) and that backprop trains end to end
    (:func:`~pyro_local.nn.backprop_net`). Calling it runs the whole network and
    returns the logits.

    The shapes of every block's input and output are found by running the network
    once on zeros at construction (a copy, in eval mode: batch-norm statistics
    and the global random state are untouched).

    :param blocks: ``{name: module}`` in order (or ``(name, module)`` pairs); names
        must be identifiers.
    :param torch.nn.Module classifier: maps the last block's output to logits.
    :param tuple input_shape: the input's shape without the batch dimension.
    :param dict pools: ``{block name: spatial pool size}`` for the local heads of
        blocks with feature-map outputs. Default: 4 for the first such block and 2
        after (LLS's choice for small images); vectors and tokens are not pooled.
    """

    def __init__(self, blocks, classifier: torch.nn.Module, input_shape: Sequence[int],
                 pools: Mapping[str, int | None] | None = None):
        super().__init__()
        blocks = OrderedDict(blocks)
        if not blocks:
            raise ValueError("Stack needs at least one block, got none")
        for name, block in blocks.items():
            if not (isinstance(name, str) and name.isidentifier()):
                raise ValueError(f"block names must be identifiers, got {name!r}")
            if not isinstance(block, torch.nn.Module):
                raise TypeError(f"block {name!r}: expected a torch.nn.Module, got {block!r}")
        if not isinstance(classifier, torch.nn.Module):
            raise TypeError(f"classifier: expected a torch.nn.Module, got {classifier!r}")
        self.blocks = torch.nn.ModuleDict(blocks)
        self.classifier = classifier
        self.input_shape = tuple(input_shape)
        self.in_shapes, self.shapes, self.num_classes = self._infer_shapes()
        pools = dict(pools or {})
        unknown = set(pools) - set(blocks)
        if unknown:
            raise ValueError(f"pools names unknown blocks {sorted(unknown)}; blocks are "
                             f"{list(blocks)}")
        self.pools = {}
        seen_maps = False
        for name in blocks:
            if name in pools:
                self.pools[name] = check_pool(pools[name])
            elif len(self.shapes[name]) == 3:
                self.pools[name] = 2 if seen_maps else 4
            else:
                self.pools[name] = None
            seen_maps = seen_maps or len(self.shapes[name]) == 3

    @torch.no_grad()
    def _infer_shapes(self):
        # Runs copies in eval mode: the blocks stay unused (a PyroModule that ran
        # cannot join a Pyro model later) and batch-norm statistics untouched.
        blocks, classifier = copy.deepcopy((self.blocks, self.classifier))
        blocks.eval()
        classifier.eval()
        with torch.random.fork_rng(devices=[]):
            h = torch.zeros(2, *self.input_shape)
            in_shapes, shapes = {}, {}
            for name, block in blocks.items():
                in_shapes[name] = tuple(h.shape[1:])
                h = _run_alone(block, h)
                shapes[name] = tuple(h.shape[1:])
            logits = _run_alone(classifier, h)
        if logits.dim() != 2:
            raise ValueError(f"the classifier must return logits (N, C), got shape "
                             f"{tuple(logits.shape)}")
        return in_shapes, shapes, logits.shape[1]

    @property
    def names(self) -> tuple[str, ...]:
        """The blocks' names, in order."""
        return tuple(self.blocks)

    def forward(self, x):
        for block in self.blocks.values():
            x = block(x)
        return self.classifier(x)


def _run_alone(module, h):
    # A Bayesian block draws its weights here (the caller restores the random state):
    # its parameters go to a param store of its own, as the copies of two blocks may
    # name theirs alike ("layer.pseudo.inputs"), and Pyro's is left as it was; its
    # sites are hidden (no warnings outside inference); pre-activations are drawn
    # locally (blocks with pseudo-data need it).
    with pyro.get_param_store().scope(), poutine.block(), local_reparameterization():
        return module(h)


class Flatten(torch.nn.Module):
    """Flattens all but the batch dimension (a named, picklable ``x.flatten(1)``)."""

    def forward(self, x):
        return x.flatten(1)


__all__ = ["Flatten", "Stack"]
