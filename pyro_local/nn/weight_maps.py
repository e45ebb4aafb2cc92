"""How a layer's input meets its weight matrix: ``B = A W`` for dense and conv layers.

A Bayesian layer of pyro-local holds one weight *matrix* ``W`` of shape ``n x p``
(``n`` input rows, plus one bias row when the bias is folded in as in Louizos &
Welling 2016; ``p`` outputs). Its pre-activations are ``c [a, 1] W`` for every
input row ``a``: the layer's input ``x`` for a dense layer, each receptive-field
patch of ``x`` for a convolution (the kernel ``(p, C, kh, kw)`` read as the
``(C kh kw) x p`` matrix, rows in :func:`torch.nn.functional.unfold` order).
``c`` is an optional input scale: 1 by default (the standard parametrization, the
weights in the units they act in), ``1/sqrt(n)`` in the paper.

A weight map computes ``c [a, 1] W`` for a whole batch without forming the rows
(a matmul, or a convolution), for one weight or a batch of them. Because every
quantity the local reparameterization needs is of this form (the mean with
``W = M``, the variance scale ``a U a^T = ||a S||^2`` with ``W = S``, a square root
of ``U``), the maps are all the layers need to know about their geometry.

Batched weights follow Pyro's plate convention: a weight of shape ``wb + (n, p)``
has batch dimensions that line up, from the right, with the batch dimensions of
the input rows, whose rightmost is the data dimension. A weight drawn outside the
data plate (a vectorized ``Predictive`` draw of shape ``(S, 1, n, p)``) thus
applies to every example: inputs ``(N, d)`` or ``(S, N, d)`` give ``(S, N, p)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pyro.distributions.util import broadcast_shape

from .._checks import is_int
from .bias_row_affine import bias_row_affine


def _input_scale(input_scale, rows):
    if input_scale == "fan_in":
        return 1.0 / math.sqrt(rows)
    if input_scale is None:
        return 1.0
    if isinstance(input_scale, (int, float)) and input_scale > 0:
        return float(input_scale)
    raise ValueError(
        f"input_scale: expected 'fan_in', None or a positive float, got {input_scale!r}"
    )


def _split_bias(weight, bias_row):
    """``(W_in, w_bias)`` with ``w_bias`` of shape ``wb + (p,)`` or ``None``."""
    if bias_row:
        return weight[..., :-1, :], weight[..., -1, :]
    return weight, None


class WeightMap:
    """Base class: ``apply(x, W) = c [a, 1] W`` over the rows ``a`` of ``x``.

    :param int rows: ``n``, the number of rows of the weight matrix (bias row included).
    :param int columns: ``p``, the number of outputs.
    :param bool bias_row: whether the last row of ``W`` is the bias.
    :param input_scale: ``c``: ``"fan_in"`` for ``1/sqrt(n)``, ``None`` for 1, or a float.
    """

    #: Dimension of the output that indexes the columns of ``W``.
    column_dim = -1

    def __init__(self, rows, columns, bias_row, input_scale):
        self.rows = rows
        self.columns = columns
        self.bias_row = bool(bias_row)
        self.scale = _input_scale(input_scale, rows)

    @property
    def weight_scale(self):
        """``1 / (c sqrt(n))``: the scale, in the units of ``W``, of weights that keep
        the pre-activations at the inputs' scale (LeCun's); what guides initialise
        relative to."""
        return 1.0 / (self.scale * math.sqrt(self.rows))

    @property
    def weight_shape(self):
        """``(n, p)``."""
        return torch.Size((self.rows, self.columns))

    def check_weight(self, weight):
        if not isinstance(weight, torch.Tensor) or weight.shape[-2:] != self.weight_shape:
            shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight)
            raise ValueError(
                f"weight: expected shape (..., {self.rows}, {self.columns}), got {shape}"
            )

    def apply(self, x, weight, square=False):
        """``c [a, 1] W`` for every row ``a`` of ``x``; with ``square=True``,
        ``c^2 [a^2, 1] W`` (elementwise squares: the variance of the mean-field
        local reparameterization, and ``a U a^T`` for a diagonal ``U`` as a one-column
        ``W``).

        :param torch.Tensor x: the layer's input.
        :param torch.Tensor weight: shape ``wb + (n, k)`` for any ``k``.
        :returns: pre-activations with ``k`` channels at :attr:`column_dim`.
        """
        c = self.scale
        if square:
            x, c = x.pow(2), c * c
        weight_in, bias = _split_bias(weight, self.bias_row)
        out = self._matmul(x, weight_in, bias)
        return out if c == 1.0 else c * out

    def _matmul(self, x, weight, bias):
        raise NotImplementedError


class LinearMap(WeightMap):
    """Dense layer: the rows are the inputs ``x`` of shape ``(..., N, d)``."""

    def __init__(self, in_features, out_features, bias_row=True, input_scale=None):
        super().__init__(in_features + int(bias_row), out_features, bias_row, input_scale)
        self.in_features = in_features

    def check_input(self, x):
        if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[-1] != self.in_features:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"input: expected shape (..., N, {self.in_features}), got {shape}")

    def apply(self, x, weight, square=False):
        if self.bias_row and weight.dim() == 2:
            # One weight matrix: one op whose backward writes W's gradient once
            # (see bias_row_affine); batched weights take the general path.
            if square:
                return bias_row_affine(x.pow(2), weight, self.scale**2)
            return bias_row_affine(x, weight, self.scale)
        return super().apply(x, weight, square)

    def _matmul(self, x, weight, bias):
        wb = weight.shape[:-2]
        if wb and wb[-1] != 1:
            # One weight per data point (sampled inside the data plate).
            out = (x.unsqueeze(-2) @ weight).squeeze(-2)
            return out if bias is None else out + bias
        if wb:  # shared across the data dimension: a batched matmul over the rest
            weight = weight.squeeze(-3)
            bias = None if bias is None else bias.squeeze(-2)
        out = x @ weight
        return out if bias is None else out + bias.unsqueeze(-2)


def _pair(value, name):
    if is_int(value, None):
        return (value, value)
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(is_int(v, None) for v in value)
    ):
        return tuple(value)
    raise TypeError(f"{name}: expected an int or a pair of ints, got {value!r}")


class Conv2dMap(WeightMap):
    """2-d convolution: the rows are the receptive-field patches of ``x`` of shape
    ``(..., N, C, H, W)``; outputs are ``(..., N, p, H', W')``.

    A batch of weights (shared across the data dimension) runs as one grouped
    convolution, the weight batch folded into the channels.
    """

    column_dim = -3

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        bias_row=True,
        input_scale=None,
    ):
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        self.dilation = _pair(dilation, "dilation")
        self.in_channels = in_channels
        kh, kw = self.kernel_size
        super().__init__(in_channels * kh * kw + int(bias_row), out_channels, bias_row, input_scale)

    def check_input(self, x):
        if not isinstance(x, torch.Tensor) or x.dim() < 4 or x.shape[-3] != self.in_channels:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"input: expected shape (..., N, {self.in_channels}, H, W), got {shape}"
            )

    def _kernel(self, weight):
        """``(..., C kh kw, k)`` -> ``(..., k, C, kh, kw)``."""
        kh, kw = self.kernel_size
        shape = weight.shape[:-2] + (self.in_channels, kh, kw, weight.shape[-1])
        return weight.reshape(shape).movedim(-1, -4)

    def _conv(self, x, kernel, bias, groups=1):
        return F.conv2d(x, kernel, bias, self.stride, self.padding, self.dilation, groups)

    def _matmul(self, x, weight, bias):
        xb, image = x.shape[:-3], x.shape[-3:]
        wb, k = weight.shape[:-2], weight.shape[-1]
        kernel = self._kernel(weight)
        if not wb:
            out = self._conv(x.reshape((-1,) + image), kernel, bias)
            return out.reshape(xb + out.shape[1:])
        if wb[-1] != 1:
            raise ValueError(
                "a batch of convolution weights must be shared across the data dimension "
                f"(rightmost batch size 1), got weight batch shape {tuple(wb)}"
            )
        # Fold the weight batch G into groups: x (N, G C, H, W), kernel (G k, C, kh, kw).
        outer = torch.Size(broadcast_shape(xb[:-1], wb[:-1]))
        g, n = outer.numel(), xb[-1]
        x = x.expand(outer + (n,) + image).reshape((g, n) + image)
        x = x.transpose(0, 1).reshape((n, g * image[0]) + image[1:])
        kernel = kernel.squeeze(-5).expand(outer + kernel.shape[-4:])
        kernel = kernel.reshape((g * k,) + kernel.shape[-3:])
        if bias is not None:
            bias = bias.squeeze(-2).expand(outer + (k,)).reshape(g * k)
        out = self._conv(x, kernel, bias, groups=g)
        out = out.reshape((n, g, k) + out.shape[-2:]).transpose(0, 1)
        return out.reshape(outer + (n, k) + out.shape[-2:])
