"""Bayesian dense and convolutional layers with a weight-matrix sample site."""

from __future__ import annotations

import enum

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule
from pyro.poutine.runtime import get_plates

from .._checks import check_enum, check_int
from .deferred import BIAS_ROW, LOCAL_REPARAM, WEIGHT_SCALE
from .priors import MatrixNormalPrior
from .pseudo_data import PseudoDataModule
from .weight_maps import Conv2dMap, LinearMap
from .weight_op import weight_apply


class Bias(str, enum.Enum):
    """Where a Bayesian layer's bias lives."""

    #: the last row of the weight matrix, as in Louizos & Welling 2016 (one
    #: matrix-normal site per layer; the bias shares the column covariance).
    ROW = "row"
    #: a separate ``Normal(0, bias_prior_scale)`` site ``"bias"`` of shape ``(p,)``.
    SITE = "site"
    #: no bias.
    NONE = "none"


def align_to_plates(value, event_dim):
    """``value`` with the batch shape of the vectorized plates active here.

    A site sampled outside the data plate but inside a vectorized plate (Pyro's
    ``Predictive(..., parallel=True)`` puts one at ``dim=-max_plate_nesting - 1``)
    has batch shape ``(S, 1, ...)``; ``Predictive`` hands back values of event
    dimension >= ``max_plate_nesting`` without the singleton dimensions, ``(S, ...)``.
    Restoring them keeps the weight's sample dimension apart from the data dimension.
    """
    frames = [f for f in get_plates() if f.vectorized and f.dim is not None]
    if not frames:
        return value
    shape = [1] * max(-f.dim for f in frames)
    for f in frames:
        shape[f.dim] = f.size
    batch = torch.Size(shape)
    event = value.shape[value.dim() - event_dim :]
    if (
        value.shape[: value.dim() - event_dim] == batch
        or value.numel() != batch.numel() * event.numel()
    ):
        return value
    return value.reshape(batch + event)


def _bias_mode(bias):
    if bias is None or bias is False:
        return Bias.NONE
    return check_enum(Bias, bias, "bias")


class _BayesLayer(PyroModule):
    """Shared machinery: the weight site, the optional bias site and pseudo-data."""

    def __init__(self, weight_map, bias_mode, prior, bias_prior_scale, pseudo_data):
        super().__init__()
        if prior is None:
            prior = MatrixNormalPrior()
        if not callable(prior):
            raise TypeError(
                f"prior: expected a callable (shape, like) -> distribution, got {prior!r}"
            )
        if not bias_prior_scale > 0:
            raise ValueError(
                f"bias_prior_scale: expected a positive float, got {bias_prior_scale!r}"
            )
        self.weight_map = weight_map
        self.bias_mode = bias_mode
        self.prior = prior
        self.bias_prior_scale = float(bias_prior_scale)
        num_points = check_int(pseudo_data, "pseudo_data", 0)
        self.pseudo = None
        if num_points:
            self.pseudo = PseudoDataModule(
                num_points, weight_map.rows, weight_map.columns, weight_map.scale
            )

    def forward(self, x):
        """Pre-activations of input ``x``: ``c [a, 1] W`` per input row ``a`` (plus
        the bias site if it is separate), through
        :func:`~pyro_local.nn.weight_op.weight_apply`."""
        wmap = self.weight_map
        wmap.check_input(x)
        weight = pyro.sample(
            self._pyro_get_fullname("weight"),
            self.prior(wmap.weight_shape, x),
            infer={LOCAL_REPARAM: True, BIAS_ROW: wmap.bias_row, WEIGHT_SCALE: wmap.weight_scale},
        )
        weight = align_to_plates(weight, 2)
        pseudo = None if self.pseudo is None else self.pseudo()
        out = weight_apply(x, weight, weight_map=wmap, pseudo=pseudo)
        if self.bias_mode is Bias.SITE:
            zero = x.new_zeros(())
            prior = dist.Normal(zero, zero + self.bias_prior_scale).expand([wmap.columns])
            bias = align_to_plates(
                pyro.sample(self._pyro_get_fullname("bias"), prior.to_event(1)), 1
            )
            out = out + bias.reshape(bias.shape + (1,) * (-1 - wmap.column_dim))
        return out


class BayesLinear(_BayesLayer):
    """
    A dense layer with a weight-matrix sample site ``"weight"`` of shape
    ``(in_features [+ 1], out_features)``: rows are inputs (plus the bias row),
    columns outputs, the layout of ``MN(M, U, V)`` in Louizos & Welling 2016. The
    forward pass emits the effectful op ``weight_apply``, so under
    :func:`~pyro_local.nn.local_reparameterization` the weights are never
    sampled; without it the layer computes with the weight it is given, batched
    weights (a leading sample dimension) included.

    The weights are in the units they act in (the standard parametrization of
    ``torch.nn.Linear``: pre-activations ``[a, 1] W``), so that Adam's steps, of about
    the learning rate per weight, are the same relative to every layer's scale,
    whatever its fan-in; the default prior is ``MN(0, I, I)`` in these units.
    ``input_scale="fan_in"`` is the paper's parametrization (``[a, 1] W / sqrt(n)``,
    whose Adam steps are ``sqrt(n)`` times smaller in effect); see ``docs/bayes.md``.

    Example::

        layer = BayesLinear(784, 100)
        guide = AutoMatrixNormal(layer)
        with local_reparameterization():
            b = layer(x)    # under the guide (via SVI): b_n ~ N(a_n M, (a_n U a_n^T) V)

    :param int in_features: input size ``d``.
    :param int out_features: output size ``p``.
    :param bias: ``"row"`` (default: the last row of the weight matrix, as in Louizos
        & Welling 2016, sharing its column covariance), ``"site"`` (a separate
        ``Normal(0, bias_prior_scale)`` site ``"bias"``) or ``None``.
    :param prior: a callable ``(shape, like) -> distribution``, such as
        :class:`~pyro_local.nn.MatrixNormalPrior` or :class:`~pyro_local.nn.NormalPrior`;
        default ``MatrixNormalPrior()``, ``MN(0, I, I)``.
    :param float bias_prior_scale: prior scale of a separate bias site.
    :param input_scale: ``None`` (default: pre-activations ``[a, 1] W``), ``"fan_in"``
        (rows scaled by ``1/sqrt(n)``, as in the paper) or a float.
    :param int pseudo_data: number of learned pseudo-data points the pre-activations
        are conditioned on (0: off; see ``docs/bayes.md``). Needs a
        matrix-normal guide and the local reparameterization handler.
    """

    def __init__(
        self,
        in_features,
        out_features,
        *,
        bias="row",
        prior=None,
        bias_prior_scale=1.0,
        input_scale=None,
        pseudo_data=0,
    ):
        mode = _bias_mode(bias)
        wmap = LinearMap(in_features, out_features, mode is Bias.ROW, input_scale)
        super().__init__(wmap, mode, prior, bias_prior_scale, pseudo_data)
        self.in_features = in_features
        self.out_features = out_features

    def extra_repr(self):
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias_mode.value}"
        )


class BayesConv2d(_BayesLayer):
    """
    A 2-d convolution with a weight-matrix sample site ``"weight"``: the kernel
    ``(p, C, kh, kw)`` read as the matrix of shape ``(C kh kw [+ 1], p)`` (rows in
    :func:`torch.nn.functional.unfold` order, plus the bias row). The
    pre-activations of every receptive field ``a`` are ``c [a, 1] W``; under
    :func:`~pyro_local.nn.local_reparameterization` each location draws its
    own noise (exact per-location marginals, no correlation between locations).
    Inputs are ``(..., N, C, H, W)``.

    :param int in_channels: ``C``.
    :param int out_channels: ``p``.
    :param kernel_size: int or pair.
    :param stride: int or pair.
    :param padding: int or pair.
    :param dilation: int or pair.
    :param bias: ``"row"`` (default: the last row of the weight matrix, as in Louizos
        & Welling 2016, sharing its column covariance), ``"site"`` (a separate
        ``Normal(0, bias_prior_scale)`` site ``"bias"``) or ``None``.
    :param prior: as for :class:`BayesLinear`.
    :param float bias_prior_scale: prior scale of a separate bias site.
    :param input_scale: as for :class:`BayesLinear` (``n = C kh kw [+ 1]``; default ``None``).
    :param int pseudo_data: as for :class:`BayesLinear` (pseudo-rows are patches).
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        *,
        bias="row",
        prior=None,
        bias_prior_scale=1.0,
        input_scale=None,
        pseudo_data=0,
    ):
        mode = _bias_mode(bias)
        wmap = Conv2dMap(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            mode is Bias.ROW,
            input_scale,
        )
        super().__init__(wmap, mode, prior, bias_prior_scale, pseudo_data)
        self.in_channels = in_channels
        self.out_channels = out_channels

    def extra_repr(self):
        m = self.weight_map
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={m.kernel_size}, "
            f"stride={m.stride}, padding={m.padding}, bias={self.bias_mode.value}"
        )
