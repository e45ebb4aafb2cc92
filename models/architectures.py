"""Bayesian MLP, LeNet-5-style CNN and MLP regressor built from pyro-local layers."""

from __future__ import annotations

from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule, PyroParam
from torch.distributions import constraints

from pyro_local._checks import check_int, is_int
from pyro_local.nn import BayesConv2d, BayesLinear, Stack

from .bayesian_blocks import BayesianClassifier, Block


def _check_sizes(sizes, name):
    sizes = tuple(sizes)
    if not all(is_int(s) for s in sizes):
        raise ValueError(f"{name}: expected positive ints, got {sizes!r}")
    return sizes


def _dense_blocks(in_features, hidden, out_features, **layer_kwargs) -> list[Block]:
    """``in -> hidden[0] -> ... -> out`` as :class:`Block` s, ReLU between layers and
    none at the end."""
    sizes = _check_sizes((in_features, *hidden, out_features), "sizes")
    blocks = []
    for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        layer = BayesLinear(d_in, d_out, **layer_kwargs)
        blocks.append(Block(layer, (d_out,), activation=None if last else torch.relu))
    return blocks


def _stack(blocks, input_shape, pools=None) -> Stack:
    # Blocks "l1", "l2", ... and the last block as the classifier: local_net then
    # names the layers "l1", ..., "output".
    names = [f"l{i + 1}" for i in range(len(blocks) - 1)]
    return Stack(dict(zip(names, blocks[:-1])), blocks[-1], input_shape, pools=pools)


def bayes_mlp(in_features, hidden, num_classes, **layer_kwargs) -> Stack:
    """
    A Bayesian MLP ``in -> hidden[0] -> ... -> num_classes`` with ReLU between layers,
    as a :class:`~pyro_local.nn.Stack`: blocks ``"l1"``, ``"l2"``, ... (one per hidden
    layer) and the output layer as its classifier. Train it layer by layer with
    :func:`~pyro_local.nn.local_net` (every layer a Bayesian layer with its own ELBO),
    or with one global ELBO as :class:`BayesianClassifier`.

    :param int in_features: input size.
    :param hidden: hidden sizes (may be empty).
    :param int num_classes: number of classes.
    :param layer_kwargs: passed to every :class:`~pyro_local.nn.BayesLinear`
        (``prior``, ``bias``, ``input_scale``, ``pseudo_data``).

    Example::

        net = local_net(bayes_mlp(784, [100, 100], 10), GreedyHeads(), num_data=60000,
                        guide_builder=AutoMatrixNormal)
    """
    return _stack(_dense_blocks(in_features, hidden, num_classes, **layer_kwargs),
                  (in_features,))


def bayes_lenet5(
    in_shape=(1, 28, 28),
    channels=(6, 16),
    hidden=(120, 84),
    num_classes=10,
    conv_kwargs=None,
    **layer_kwargs,
) -> Stack:
    """
    A Bayesian LeNet-5 style CNN as a :class:`~pyro_local.nn.Stack`: conv 5x5
    (padding 2) - ReLU - max-pool 2 (block ``"l1"``, whose local head reads it
    average-pooled to 2 x 2), conv 5x5 - ReLU - max-pool 2 - flatten (``"l2"``), then
    dense layers ``hidden`` with ReLU and the output layer as the classifier.

    :param tuple in_shape: ``(C, H, W)`` of one image (28 x 28 for Fashion-MNIST).
    :param channels: the two convolutions' output channels (6, 16 in LeNet-5).
    :param hidden: dense hidden sizes (120, 84 in LeNet-5).
    :param int num_classes: number of classes.
    :param dict conv_kwargs: overrides of ``layer_kwargs`` for the two convolutions
        (e.g. ``{"pseudo_data": 0}``).
    :param layer_kwargs: passed to every Bayesian layer.
    """
    c_in, height, width = _check_sizes(in_shape, "in_shape")
    conv = {**layer_kwargs, **(conv_kwargs or {})}
    c1, c2 = _check_sizes(channels, "channels")
    h1, w1 = height // 2, width // 2
    h2, w2 = (h1 - 4) // 2, (w1 - 4) // 2
    if h2 < 1 or w2 < 1:
        raise ValueError(f"in_shape: images of {height} x {width} are too small for LeNet-5")
    blocks = [
        Block(BayesConv2d(c_in, c1, 5, padding=2, **conv), (c1, h1, w1), pool=2),
        Block(BayesConv2d(c1, c2, 5, **conv), (c2 * h2 * w2,), pool=2, flatten=True),
    ]
    blocks += _dense_blocks(c2 * h2 * w2, hidden, num_classes, **layer_kwargs)
    return _stack(blocks, (c_in, height, width), pools={"l1": 2})


class BayesianMLP(BayesianClassifier):
    """:func:`bayes_mlp` as one Pyro model with one global ELBO; see
    :class:`BayesianClassifier`.

    Example::

        model = BayesianMLP(784, [150, 150], 10, num_data=60000)
        guide = AutoMatrixNormal(model)
    """

    def __init__(
        self, in_features, hidden: Sequence[int], num_classes, num_data=None, **layer_kwargs
    ):
        super().__init__(bayes_mlp(in_features, hidden, num_classes, **layer_kwargs), num_data)


class BayesianLeNet5(BayesianClassifier):
    """:func:`bayes_lenet5` as one Pyro model with one global ELBO, on
    ``(..., N, C, H, W)`` images; see :class:`BayesianClassifier`."""

    def __init__(
        self,
        in_shape=(1, 28, 28),
        channels=(6, 16),
        hidden=(120, 84),
        num_classes=10,
        num_data=None,
        **layer_kwargs,
    ):
        stack = bayes_lenet5(in_shape, channels, hidden, num_classes, **layer_kwargs)
        super().__init__(stack, num_data)


class BayesianRegressor(PyroModule):
    """A Bayesian MLP regressor with a Gaussian likelihood of learned noise scale
    (a point estimate, one per output): ``y_n ~ N(f(x_n), diag(noise^2))``.

    ``forward(x, y=None)`` returns the mean ``f(x)`` of shape ``(..., N, out_features)``.

    :param int in_features: input size.
    :param hidden: hidden sizes.
    :param int out_features: number of targets.
    :param int num_data: training-set size, or ``None``.
    :param float init_noise: initial noise scale.
    :param layer_kwargs: passed to every :class:`~pyro_local.nn.BayesLinear`.
    """

    def __init__(
        self,
        in_features,
        hidden: Sequence[int],
        out_features=1,
        num_data=None,
        init_noise=1.0,
        **layer_kwargs,
    ):
        super().__init__()
        if not init_noise > 0:
            raise ValueError(f"init_noise: expected a positive float, got {init_noise!r}")
        blocks = _dense_blocks(in_features, hidden, out_features, **layer_kwargs)
        self.blocks = PyroModule[torch.nn.ModuleList](blocks)
        self.num_data = None if num_data is None else check_int(num_data, "num_data")
        self.noise = PyroParam(torch.full((out_features,), float(init_noise)), constraints.positive)

    def forward(self, x, y=None):
        h = x
        for block in self.blocks:
            h = block(h)
        batch = h.shape[-2]
        size = batch if self.num_data is None else self.num_data
        with pyro.plate("data", size, subsample=torch.arange(batch, device=h.device)):
            pyro.sample("y", dist.Normal(h, self.noise).to_event(1), obs=y)
        return h
