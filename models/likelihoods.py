"""Observation models ``p(x | decoder output)`` for images."""

from __future__ import annotations

import enum

import pyro.distributions as dist
import torch
from torch import nn

from pyro_local._checks import check_enum, is_int
from pyro_local.nn.dense import SOFTPLUS_ONE


class Likelihood(str, enum.Enum):
    """The distribution of each pixel given the decoder's output."""

    #: binary pixels (binarized images); the decoder gives logits.
    BERNOULLI = "bernoulli"
    #: real pixels; the decoder gives the mean, each pixel has a learned scale.
    GAUSSIAN = "gaussian"
    #: intensities in [0, 1] (Loaiza-Ganem & Cunningham, 2019); the decoder gives logits.
    CONTINUOUS_BERNOULLI = "continuous_bernoulli"


class ObservationModel(nn.Module):
    """
    Turns the decoder's output into the distribution of an image, one independent
    pixel per output unit (``.to_event(1)``: the pixels form one event).

    :param likelihood: a :class:`Likelihood` or its name.
    :param int x_dim: the number of pixels.
    :param float min_scale: lower bound on the Gaussian's per-pixel scale.
    """

    def __init__(self, likelihood, x_dim: int, min_scale: float = 1e-3):
        super().__init__()
        self.likelihood = check_enum(Likelihood, likelihood, "likelihood")
        self.x_dim = x_dim
        self.min_scale = float(min_scale)
        if self.likelihood is Likelihood.GAUSSIAN:
            self.raw_scale = nn.Parameter(torch.full((x_dim,), SOFTPLUS_ONE))

    def forward(self, out: torch.Tensor) -> dist.TorchDistribution:
        """The distribution of the image given the decoder's output ``out``."""
        if self.likelihood is Likelihood.BERNOULLI:
            return dist.Bernoulli(logits=out).to_event(1)
        if self.likelihood is Likelihood.CONTINUOUS_BERNOULLI:
            return dist.ContinuousBernoulli(logits=out).to_event(1)
        scale = nn.functional.softplus(self.raw_scale) + self.min_scale
        return dist.Normal(out, scale).to_event(1)

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        """The mean image given the decoder's output (for pictures of samples)."""
        if self.likelihood is Likelihood.BERNOULLI:
            return torch.sigmoid(out)
        if self.likelihood is Likelihood.CONTINUOUS_BERNOULLI:
            return dist.ContinuousBernoulli(logits=out).mean
        return out

    def check_data(self, x: torch.Tensor) -> None:
        """Raises ``ValueError`` when ``x`` lies outside this likelihood's support."""
        if self.likelihood is Likelihood.BERNOULLI:
            if not bool(((x == 0) | (x == 1)).all()):
                raise ValueError(
                    "x: expected binary pixels (0 or 1) for the Bernoulli likelihood; "
                    "binarize the images (pyro_local.data.binarize_dynamic) or choose "
                    "likelihood='continuous_bernoulli'"
                )
        elif self.likelihood is Likelihood.CONTINUOUS_BERNOULLI:
            if not bool(((x >= 0) & (x <= 1)).all()):
                raise ValueError("x: expected intensities in [0, 1] for the continuous Bernoulli")

    def data_size(self, x, batch_size=None) -> int:
        """
        The number of images of a model call: ``len(x)`` after checking ``x`` (shape
        ``(batch, x_dim)``, inside the support), else ``batch_size`` (to sample).

        :raises ValueError: naming the argument that is wrong.
        """
        if x is not None:
            if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[-1] != self.x_dim:
                shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
                raise ValueError(
                    f"x: expected a tensor of shape (batch, {self.x_dim}), got {shape}; "
                    "flatten the images (load(..., flatten=True))"
                )
            self.check_data(x)
            return x.shape[0]
        if not is_int(batch_size):
            raise ValueError(
                f"batch_size: expected a positive int when x is None, got {batch_size!r}"
            )
        return batch_size
