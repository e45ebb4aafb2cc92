"""Learned pseudo-data of a Bayesian layer (the deep-GP view of Louizos & Welling 2016).

With ``W ~ MN(M, U, V)`` every output unit of a layer is a Gaussian process with
the linear kernel ``k(a, a') = a U a'^T``. Like inducing points of a sparse GP, a
layer may carry ``K`` learned pseudo-inputs ``X`` (rows of its weight map) and
pseudo-outputs ``Y`` on which its pre-activations are conditioned
(:class:`~pyro_local.nn.local_reparam.PseudoData`). As in the paper, the
pseudo-data get multiplicative Gaussian noise ``X (1 + sigma_X eps)``,
``Y (1 + sigma_Y eps)`` with learned ``sigma`` (an outer product of a per-point and
a per-dimension factor), and the noise variances ``alpha = sigma^2`` are
regularised by the approximation of Kingma et al. 2015 to the negative KL of
multiplicative noise against the log-uniform prior::

    -KL(alpha) ~ 1/2 log alpha + c1 alpha + c2 alpha^2 + c3 alpha^3 + const

(c1, c2, c3 = 1.16145124, -1.50204118, 0.58629921), fitted for ``alpha <= 1``,
so each factor of ``sigma`` is kept in ``(0, 1)``. The constant, arbitrary for an
improper prior, is chosen so that a term is 0 at ``alpha = 1``. The sum enters the
ELBO as a ``pyro.factor`` site of the layer.
"""

from __future__ import annotations

import pyro
import torch
from pyro.nn import PyroModule, PyroParam
from torch.distributions import constraints

from .._checks import check_int
from .local_reparam import PseudoData

_C1, _C2, _C3 = 1.16145124, -1.50204118, 0.58629921


def noise_neg_kl(alpha):
    """The approximate ``-KL`` of multiplicative Gaussian noise of variance
    ``alpha`` (elementwise), 0 at ``alpha = 1``."""
    poly = _C1 * alpha + _C2 * alpha.pow(2) + _C3 * alpha.pow(3)
    return 0.5 * alpha.log() + poly - (_C1 + _C2 + _C3)


class PseudoDataModule(PyroModule):
    """``K`` noisy learned pseudo-data points for a weight matrix of shape ``n x p``.

    :param int num_points: ``K``.
    :param int rows: ``n`` (bias coordinate included).
    :param int columns: ``p``.
    :param float input_scale: the layer's input scale ``c``, applied to ``X``.
    :param float init_range: pseudo-data start uniform in ``(-init_range, init_range)``
        (0.01 in the paper's code).
    :param float init_noise: initial value of every noise-scale factor, so that
        ``sigma = init_noise^2`` at the start (``sqrt(0.1)`` as in the paper's code).
    :param float jitter: relative diagonal jitter of ``X U X^T``.
    """

    def __init__(
        self,
        num_points,
        rows,
        columns,
        input_scale,
        init_range=0.01,
        init_noise=0.1**0.5,
        jitter=1e-4,
    ):
        super().__init__()
        check_int(num_points, "pseudo_data")
        if not 0 < init_noise < 1:
            raise ValueError(f"init_noise: expected a value in (0, 1), got {init_noise!r}")
        self.input_scale = input_scale
        self.jitter = jitter
        self.inputs = torch.nn.Parameter(init_range * (2 * torch.rand(num_points, rows) - 1))
        self.outputs = torch.nn.Parameter(init_range * (2 * torch.rand(num_points, columns) - 1))
        unit = constraints.interval(0.0, 1.0)
        self.point_noise = PyroParam(torch.full((num_points,), init_noise), unit)
        self.input_noise = PyroParam(torch.full((rows,), init_noise), unit)
        self.output_noise = PyroParam(torch.full((columns,), init_noise), unit)

    def forward(self):
        """Draws the noisy pseudo-data, adds the noise regulariser to the ELBO.

        :returns: a :class:`~pyro_local.nn.local_reparam.PseudoData`.
        """
        point_noise = self.point_noise
        sigma_x = point_noise.unsqueeze(-1) * self.input_noise
        sigma_y = point_noise.unsqueeze(-1) * self.output_noise
        inputs = self.inputs * (1 + sigma_x * torch.randn_like(sigma_x))
        outputs = self.outputs * (1 + sigma_y * torch.randn_like(sigma_y))
        neg_kl = noise_neg_kl(sigma_x.pow(2)).sum() + noise_neg_kl(sigma_y.pow(2)).sum()
        pyro.factor(self._pyro_get_fullname("noise_kl"), neg_kl)
        return PseudoData(self.input_scale * inputs, outputs, self.jitter)

    def extra_repr(self):
        k, n = self.inputs.shape
        return f"num_points={k}, rows={n}, columns={self.outputs.shape[-1]}"


