"""Blocks of Bayesian networks and the classifier built from them.

A network is a sequence of :class:`Block` s (a Bayesian layer, an activation,
optional pooling and flattening). The same blocks make two models:

- :class:`BayesianClassifier`: one categorical likelihood on the last block's
  output (one global ELBO: Pyro's ``SVI`` or :class:`~pyro_local.infer.LocalSVI`
  fused with no layers);
- :func:`local_classifier_net`: a :class:`~pyro_local.nn.LocalNet` where every
  block observes the label through its own local head (a valid per-layer ELBO:
  each layer's weights, its head and the label), trained with
  :class:`~pyro_local.infer.LocalSVI`. The head is pluggable (``head=``).

Every likelihood sits in a plate ``"data"`` of size ``num_data`` subsampled to
the batch, so the ELBO is that of the whole data set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.nn import PyroModule

from pyro_local.nn import LocalNet


def _pool(h, kernel):
    lead, image = h.shape[:-3], h.shape[-3:]
    out = F.max_pool2d(h.reshape((-1,) + image), kernel)
    return out.reshape(lead + out.shape[1:])


class Block(PyroModule):
    """``layer``, then ``activation``, then optional max-pooling and flattening.

    :param layer: a Bayesian layer (or any module).
    :param tuple out_shape: shape of one example's output (for building heads).
    :param callable activation: e.g. ``torch.relu``; ``None`` for none.
    :param int pool: max-pool kernel (conv blocks), or ``None``.
    :param bool flatten: flatten ``(C, H, W)`` to ``C H W`` at the end.
    """

    def __init__(self, layer, out_shape, activation=torch.relu, pool=None, flatten=False):
        super().__init__()
        self.layer = layer
        self.out_shape = tuple(out_shape)
        self.activation = activation
        self.pool = pool
        self.flatten = flatten

    def forward(self, h):
        h = self.layer(h)
        if self.activation is not None:
            h = self.activation(h)
        if self.pool:
            h = _pool(h, self.pool)
        if self.flatten:
            h = h.flatten(-3)
        return h


def observe_labels(logits, y, num_data, name="y"):
    """``y ~ Categorical(logits)`` in a plate ``"data"`` of size ``num_data``
    (``None``: the batch) subsampled to the batch, so the log-likelihood is scaled
    by ``num_data / batch``."""
    batch = logits.shape[-2]
    size = batch if num_data is None else num_data
    subsample = torch.arange(batch, device=logits.device)
    with pyro.plate("data", size, subsample=subsample):
        return pyro.sample(name, dist.Categorical(logits=logits), obs=y)


def _check_num_data(num_data):
    if num_data is not None and (
        isinstance(num_data, bool) or not isinstance(num_data, int) or num_data < 1
    ):
        raise ValueError(f"num_data: expected a positive int or None, got {num_data!r}")
    return num_data


class BayesianClassifier(PyroModule):
    """A classifier: the blocks in sequence, the last block's output as logits.

    ``forward(x, y=None)`` is a Pyro model (observing ``y`` when given) and returns
    the logits, of shape ``(..., N, num_classes)``, a leading sample dimension
    included under a vectorized ``Predictive``.

    :param blocks: a sequence of :class:`Block`.
    :param int num_data: size of the training set (scales the likelihood), or ``None``.
    """

    def __init__(self, blocks: Sequence[Block], num_data=None):
        super().__init__()
        if not blocks:
            raise ValueError("blocks: expected at least one block, got none")
        self.blocks = PyroModule[torch.nn.ModuleList](list(blocks))
        self.num_data = _check_num_data(num_data)

    def logits(self, x):
        h = x
        for block in self.blocks:
            h = block(h)
        return h

    def forward(self, x, y=None):
        logits = self.logits(x)
        observe_labels(logits, y, self.num_data)
        return logits


class LinearHead(PyroModule):
    """A deterministic local head: (average-pool a feature map to ``pool x pool``,)
    flatten, linear map to the class logits. Its weights are point estimates
    trained by the block's local ELBO.

    :param tuple in_shape: one example's block output, ``(d,)`` or ``(C, H, W)``.
    :param int num_classes: number of classes.
    :param int pool: spatial size after pooling, for feature maps.
    """

    def __init__(self, in_shape, num_classes, pool=2):
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.pool = pool if len(self.in_shape) == 3 else None
        features = self.in_shape[0] * pool * pool if self.pool else self.in_shape[0]
        self.linear = torch.nn.Linear(features, num_classes)

    def forward(self, h):
        if self.pool:
            lead, image = h.shape[:-3], h.shape[-3:]
            h = F.adaptive_avg_pool2d(h.reshape((-1,) + image), self.pool)
            h = h.reshape(lead + (-1,))
        return self.linear(h)


class LocalClassifierBlock(PyroModule):
    """One block of a locally trained classifier: the block's output is returned to
    the next layer and, through ``head`` (``None``: the output are the logits),
    observes the label.

    :param Block block: the block.
    :param head: a module mapping the block's output to logits, or ``None``.
    :param int num_data: training-set size, or ``None``.
    """

    def __init__(self, block, head, num_data=None):
        super().__init__()
        self.block = block
        self.head = head
        self.num_data = _check_num_data(num_data)

    def forward(self, h, y=None):
        out = self.block(h)
        logits = out if self.head is None else self.head(out)
        observe_labels(logits, y, self.num_data)
        return out


def local_classifier_net(
    blocks: Sequence[Block],
    num_classes: int,
    num_data=None,
    head: Callable = LinearHead,
    guide_builder: Callable | None = None,
) -> LocalNet:
    """A :class:`~pyro_local.nn.LocalNet` over ``blocks``, each with a local head
    ``head(block.out_shape, num_classes)``; the last block's output are the logits
    and need no head. Layers are named ``"l1"``, ``"l2"``, ...; ``net.model(x)``
    returns the logits (for ``Predictive``).

    :param blocks: a sequence of :class:`Block`.
    :param int num_classes: number of classes.
    :param int num_data: training-set size, or ``None``.
    :param callable head: ``(in_shape, num_classes) -> module`` (default :class:`LinearHead`).
    :param callable guide_builder: ``model -> guide`` per layer, e.g. ``AutoMatrixNormal``.
    """
    if not blocks:
        raise ValueError("blocks: expected at least one block, got none")
    if not callable(head):
        raise TypeError(
            f"head: expected a callable (in_shape, num_classes) -> module, got {head!r}"
        )
    layers = {}
    for i, block in enumerate(blocks):
        last = i == len(blocks) - 1
        block_head = None if last else head(block.out_shape, num_classes)
        layers[f"l{i + 1}"] = LocalClassifierBlock(block, block_head, num_data)
    return LocalNet(layers, guide_builder=guide_builder)
