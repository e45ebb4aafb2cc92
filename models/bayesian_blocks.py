"""Blocks of Bayesian networks and the classifier with one global ELBO over them.

A Bayesian network is a :class:`~pyro_local.nn.Stack` of :class:`Block` s (a Bayesian
layer, an activation, optional pooling and flattening; :func:`bayes_mlp`,
:func:`bayes_lenet5`). The same stack is trained two ways:

- layer by layer with :func:`pyro_local.nn.local_net`: every block observes the label
  through its own local head, the last block (the stack's classifier) through its
  logits, each a valid per-layer ELBO (its weights' KL plus its head's likelihood);
- with one global ELBO as :class:`BayesianClassifier`, a Pyro model whose likelihood
  sits in a plate ``"data"`` of size ``num_data`` subsampled to the batch, so the ELBO
  is that of the whole data set.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.nn import PyroModule

from pyro_local._checks import check_int
from pyro_local.nn import Stack


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


class BayesianClassifier(PyroModule):
    """A Bayesian network with one global ELBO: the stack's blocks and classifier in
    sequence, its output as the logits of a categorical likelihood.

    ``forward(x, y=None)`` is a Pyro model (observing ``y`` when given) and returns
    the logits, of shape ``(..., N, num_classes)``, a leading sample dimension
    included under a vectorized ``Predictive`` (the stack's modules must allow it, as
    ``pyro_local.models.bayesian_blocks.Block`` does).

    :param Stack stack: the network, e.g. :func:`bayes_mlp`.
    :param int num_data: size of the training set (scales the likelihood), or ``None``.
    """

    def __init__(self, stack: Stack, num_data=None):
        super().__init__()
        if not isinstance(stack, Stack):
            raise TypeError(f"stack: expected a pyro_local.nn.Stack, got {type(stack).__name__}")
        modules = [*stack.blocks.values(), stack.classifier]
        self.blocks = PyroModule[torch.nn.ModuleList](modules)
        self.num_data = None if num_data is None else check_int(num_data, "num_data")

    def logits(self, x):
        h = x
        for block in self.blocks:
            h = block(h)
        return h

    def forward(self, x, y=None):
        logits = self.logits(x)
        batch = logits.shape[-2]
        size = batch if self.num_data is None else self.num_data
        with pyro.plate("data", size, subsample=torch.arange(batch, device=logits.device)):
            pyro.sample("y", dist.Categorical(logits=logits), obs=y)
        return logits
