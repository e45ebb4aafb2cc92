"""LLS: a fixed periodic class basis as each layer's local classifier (Apolinario et al.)."""

from __future__ import annotations

import dataclasses
import enum

import torch
import torch.nn.functional as F

from ..._checks import check_enum, check_int
from ..features import check_pool, coerce_enum_fields, pool_features, pooled_dim
from .heads import LocalHead


class Waveform(str, enum.Enum):
    """The periodic functions of an LLS basis."""

    #: ``sin(f_c * j)``: the paper calls it "cosine"; the phase makes no difference
    #: to learning, and the official code uses the sine.
    COSINE = "cosine"
    #: ``sign(sin(f_c * j))``.
    SQUARE = "square"


class Variant(str, enum.Enum):
    """LLS and its two variants with a few learned parameters."""

    #: the fixed basis alone: no trainable parameter in the objective.
    PLAIN = "plain"
    #: LLS-M: a learned scale per class, ``logits_c * m_c``.
    M = "m"
    #: LLS-MxM: a learned ``C x C`` mixing of the class scores, ``logits @ M``.
    MXM = "mxm"


def lls_basis(num_classes: int, dim: int, waveform="cosine", min_freq: float = 50.0,
              max_freq: float = 512.0) -> torch.Tensor:
    """
    The fixed LLS basis ``B`` (``num_classes x dim``): row ``c`` is a periodic signal
    of frequency ``f_c`` sampled at ``j = 0, ..., dim - 1``, with the frequencies
    evenly spaced over ``[min_freq, max_freq]``::

        B[c, j] = sin(f_c * j)            (waveform "cosine")
        B[c, j] = sign(sin(f_c * j))      (waveform "square")

    The arguments ``f_c * j`` reach ``max_freq * dim``; they are computed in double
    precision (float32 would lose about 0.01 rad there) and the result cast to float32.
    """
    check_int(num_classes, "num_classes")
    check_int(dim, "dim")
    waveform = check_enum(Waveform, waveform, "waveform")
    freqs = torch.linspace(min_freq, max_freq, num_classes, dtype=torch.float64)
    basis = torch.sin(freqs[:, None] * torch.arange(dim, dtype=torch.float64))
    if waveform is Waveform.SQUARE:
        basis = torch.sign(basis)
    return basis.float()


class LLSHead(LocalHead):
    """
    The LLS objective of one layer. The activation is pooled to ``D`` features
    (:func:`~pyro_local.nn.features.pool_features`) and L2-normalised to ``z``; the
    class scores are its projections on the fixed basis (:func:`lls_basis`),
    ``logits = z B^T / T``, and the label's likelihood is ``Categorical(logits)``,
    so the layer's local ELBO is minus LLS's cross-entropy (summed over the batch).
    LLS-M multiplies class ``c``'s score by a learned ``m_c``, LLS-MxM mixes the
    scores with a learned ``C x C`` matrix; both start at ``0.01 * N(0, 1)`` as in the
    official code.

    The basis is a buffer: saved in the ``state_dict`` (a checkpoint restores it)
    and never among ``parameters()``, so no optimizer touches it.

    :param tuple shape: the activation's shape without the batch dimension.
    :param int num_classes: the number of classes.
    :param int pool: the spatial size feature maps are pooled to.
    :param waveform: ``"cosine"`` or ``"square"``.
    :param float temperature: ``T`` (0.5 in the paper).
    :param variant: ``"plain"``, ``"m"`` or ``"mxm"``.
    :param int seed: seeds the initial values of the learned scale/mixing.
    """

    def __init__(self, shape, num_classes: int, pool: int | None = None, waveform="cosine",
                 temperature: float = 0.5, variant="plain", min_freq: float = 50.0,
                 max_freq: float = 512.0, seed: int = 0):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature: expected a positive float, got {temperature!r}")
        self.pool = check_pool(pool)
        self.temperature = float(temperature)
        self.variant = check_enum(Variant, variant, "variant")
        self.waveform = check_enum(Waveform, waveform, "waveform")
        dim = pooled_dim(shape, pool)
        self.register_buffer("basis", lls_basis(num_classes, dim, waveform, min_freq, max_freq))
        generator = torch.Generator().manual_seed(seed)
        if self.variant is Variant.M:
            self.scale = torch.nn.Parameter(0.01 * torch.randn(num_classes, generator=generator))
        elif self.variant is Variant.MXM:
            self.mixing = torch.nn.Parameter(
                0.01 * torch.randn(num_classes, num_classes, generator=generator)
            )

    def logits(self, a):
        z = F.normalize(pool_features(a, self.pool), dim=1)
        scores = z @ self.basis.T
        if self.variant is Variant.M:
            scores = scores * self.scale
        elif self.variant is Variant.MXM:
            scores = scores @ self.mixing
        return scores / self.temperature


@dataclasses.dataclass(frozen=True)
class LLS:
    """
    The LLS rule: every layer gets an ``LLSHead`` (a :class:`~pyro_local.nn.LocalHead`).

    :param waveform: ``"cosine"`` or ``"square"``.
    :param variant: ``"plain"`` (LLS), ``"m"`` (LLS-M) or ``"mxm"`` (LLS-MxM).
    :param float temperature: the softmax temperature (0.5).
    """

    waveform: Waveform | str = Waveform.COSINE
    variant: Variant | str = Variant.PLAIN
    temperature: float = 0.5
    min_freq: float = 50.0
    max_freq: float = 512.0

    def __post_init__(self):
        coerce_enum_fields(self, {"waveform": Waveform, "variant": Variant})

    def __call__(self, spec) -> LLSHead:
        return LLSHead(spec.out_shape, spec.num_classes, spec.pool, self.waveform,
                       self.temperature, self.variant, self.min_freq, self.max_freq,
                       seed=spec.seed)


__all__ = ["LLS", "LLSHead", "Variant", "Waveform", "lls_basis"]
