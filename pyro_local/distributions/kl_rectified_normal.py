"""Closed-form KL divergence between two rectified Gaussians.

Importing this module registers the rule with ``torch.distributions.kl``, so
``kl_divergence`` and :class:`~pyro.infer.TraceMeanField_ELBO` use it, also through
Pyro's ``Independent`` (``.to_event``) and masked wrappers.

The divergence is one autograd op (:class:`_RectifiedKL`) with a hand-derived
gradient: a hierarchy's step takes it for every unit of every latent layer, and
composed of elementwise torch ops (the truncated moments' continued fractions
included) it took ~230 kernels per layer and kept most of their outputs for the
backward pass. The op keeps only its four inputs and recomputes the few
intermediates its gradient needs; its backward is itself made of differentiable ops,
so second derivatives work.
"""

from __future__ import annotations

import math

import torch
from torch.distributions.kl import register_kl

from .rectified_normal import RectifiedNormal
from .truncated_moments import inverse_mills

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_SQRT_HALF_PI = math.sqrt(math.pi / 2)
_SQRT_HALF = math.sqrt(0.5)


@register_kl(RectifiedNormal, RectifiedNormal)
def kl_rectified_normal(q: RectifiedNormal, p: RectifiedNormal) -> torch.Tensor:
    """``KL(q || p)`` for rectified Gaussians, in closed form.

    With respect to the shared base measure (point mass at 0) + (Lebesgue on ``z > 0``)
    the divergence splits into the atom and the positive part::

        KL = Q0 (log Q0 - log P0) + Q+ B,      Q0 = Phi(-a_q), Q+ = Phi(a_q),

    where ``a = loc / scale`` and ``B`` is the expected log-ratio of the two normal
    densities under ``q``'s normal truncated to ``z > 0``. Writing ``r = scale_q /
    scale_p``, ``delta = (loc_q - loc_p) / scale_p`` and ``lam`` for the inverse Mills
    ratio ``phi(a_q) / Phi(a_q)`` (from ``erfcx`` where ``a_q < 0``)::

        B = -log r + (r^2 - 1) s2 / 2 + delta (delta / 2 + r lam),    s2 = 1 - a_q lam,

    ``s2`` being the second moment about ``a_q`` of ``N(a_q, 1)`` given a positive
    value (a sum of positive terms for ``a_q < 0``). For a plain normal (``a_q -> inf``:
    ``lam -> 0``, ``s2 -> 1``) this is the familiar normal KL, and it is exactly zero
    when ``q`` and ``p`` coincide. ``lam`` is accurate to a few units of round-off far
    into both tails and the atoms come from ``log_ndtr``, so the result and its
    gradients are finite for any finite parameters.

    Using this closed form matters: the pathwise gradient of the single-sample estimate
    ``log q(z) - log p(z)``, ``z = relu(loc_q + scale_q eps)``, misses the term from
    the atom/density boundary moving with ``q``'s parameters and is biased.

    :param RectifiedNormal q: the first argument (e.g. the guide).
    :param RectifiedNormal p: the second argument (e.g. the prior).
    :returns: the divergence, with the broadcast batch shape of ``q`` and ``p``.
    """
    return _RectifiedKL.apply(q.loc, q.scale, p.loc, p.scale)


#: Beyond this |x| the tail Phi(-|x|) comes from the Mills ratio's asymptotic series
#: rather than erfc: erfc(x / sqrt(2)) stays a normal float up to |x| ~ 13 (float32)
#: and ~37 (float64), and there the series' first neglected term is below round-off.
_SERIES_FROM = {torch.float64: 30.0}
_SERIES_FROM_DEFAULT = 10.0


def _log_mills(t):
    """``log R(t)`` for ``t >= 0``, ``R(t) = Phi(-t) / phi(t)`` the Mills ratio: from
    erfc (accurate relative to its value, so nothing cancels) up to the series'
    threshold, from ``R ~ (1 - 1/t^2 + 3/t^4 - ...) / t`` beyond. Both branches are
    evaluated on clamped inputs, so neither produces inf or nan."""
    switch = _SERIES_FROM.get(t.dtype, _SERIES_FROM_DEFAULT)
    near = t.clamp(max=switch)
    log_near = torch.log(0.5 * torch.erfc(near * _SQRT_HALF)) + (0.5 * near * near + _LOG_SQRT_2PI)
    u = t.clamp(min=switch).pow(-2)
    series = 1 + u * (-1 + u * (3 + u * (-15 + u * (105 + u * -945))))
    return torch.where(t < switch, log_near, torch.log(series * u.sqrt()))


class _Side:
    """``Phi(x)``, ``Phi(-x)``, ``log Phi(-x)``, ``phi(x)`` and ``phi(x) / Phi(-x)``
    for a standardized location ``x``, from one Mills ratio at ``|x|``: the smaller
    tail is ``phi(x) R(|x|)``, the larger one minus it (at least 1/2), so each is
    accurate relative to its value (``torch.special.ndtr`` cancels below -5, and
    ``log_ndtr`` costs as much as twenty elementwise ops)."""

    def __init__(self, x):
        negative = x < 0
        log_pdf = -0.5 * x * x - _LOG_SQRT_2PI
        self.pdf = log_pdf.exp()
        log_mills = _log_mills(x.abs())
        log_small = log_pdf + log_mills
        small = log_small.exp()
        large = 1 - small
        self.upper = torch.where(negative, large, small)  # Phi(-x)
        self.lower = torch.where(negative, small, large)  # Phi(x)
        self.log_upper = torch.where(negative, torch.log1p(-small), log_small)
        # phi(x) / Phi(-x): 1 / R(x) above zero, phi(x) / (1 - small) below.
        self.inv_mills_upper = torch.where(negative, self.pdf / large, (-log_mills).exp())


class _Terms:
    """The intermediates of the divergence and of its gradient, elementwise, in the
    formula's own variables ``a = a_q``, ``b = loc_p / scale_p``, ``r`` and ``delta``."""

    def __init__(self, loc_q, scale_q, loc_p, scale_p):
        self.a = loc_q / scale_q
        self.b = loc_p / scale_p
        self.r = scale_q / scale_p
        # rho = r - 1 from the difference of the scales keeps log r and r^2 - 1
        # accurate when the scales nearly coincide (a KL of ~1e-13 is not lost in the
        # round-off of log(scale)); far from coinciding, log1p(rho) would carry rho's
        # absolute round-off into log r with the relative weight 1 / r, so there
        # log r is taken from the ratio itself.
        self.rho = (scale_q - scale_p) / scale_p
        self.log_r = torch.where(self.rho.abs() < 0.5, torch.log1p(self.rho), self.r.log())
        self.delta = (loc_q - loc_p) / scale_p
        self.q = _Side(self.a)
        self.p = _Side(self.b)

    def value(self):
        q = self.q
        atom = q.upper * (q.log_upper - self.p.log_upper)
        # Where the scales differ by orders of magnitude the terms of B cancel (by ~70
        # at r = 1e4), so lam is taken to working precision (a continued fraction).
        lam = inverse_mills(self.a, q.lower)
        s2 = 1 - self.a * lam
        positive = (
            -self.log_r
            + 0.5 * self.rho * (self.rho + 2) * s2
            + self.delta * (0.5 * self.delta + self.r * lam)
        )
        return atom + q.lower * positive

    def partials(self):
        """Derivatives in ``(a, b, r, delta)``, simplified with ``delta = r a - b``
        (which makes the terms in ``r^2`` of the derivative in ``a`` cancel exactly)."""
        a, b, r, q, p = self.a, self.b, self.r, self.q, self.p
        d_a = q.pdf * (0.5 * (b - a) * (b + a) - self.log_r - 1 - q.log_upper + p.log_upper)
        d_b = q.upper * p.inv_mills_upper
        d_r = q.lower * (self.rho * (self.rho + 2) / r) - b * q.pdf
        d_delta = q.lower * self.delta + r * q.pdf
        return d_a, d_b, d_r, d_delta


def _sum_to(grad, shape):
    return grad if grad.shape == shape else grad.sum_to_size(shape)


class _RectifiedKL(torch.autograd.Function):
    @staticmethod
    def forward(ctx, loc_q, scale_q, loc_p, scale_p):
        ctx.save_for_backward(loc_q, scale_q, loc_p, scale_p)
        return _Terms(loc_q, scale_q, loc_p, scale_p).value()

    @staticmethod
    def backward(ctx, grad):
        loc_q, scale_q, loc_p, scale_p = ctx.saved_tensors
        t = _Terms(loc_q, scale_q, loc_p, scale_p)
        d_a, d_b, d_r, d_delta = t.partials()
        # a = loc_q / scale_q, b = loc_p / scale_p, r = scale_q / scale_p,
        # delta = (loc_q - loc_p) / scale_p.
        grads = (
            d_a / scale_q + d_delta / scale_p,
            -d_a * t.a / scale_q + d_r / scale_p,
            (d_b - d_delta) / scale_p,
            -(d_b * t.b + d_r * t.r + d_delta * t.delta) / scale_p,
        )
        inputs = (loc_q, scale_q, loc_p, scale_p)
        return tuple(
            _sum_to(grad * g, x.shape) if needed else None
            for g, x, needed in zip(grads, inputs, ctx.needs_input_grad)
        )
