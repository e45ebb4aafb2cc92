"""The amortized diagonal-Gaussian guide of the one-layer Gaussian VAE."""

from __future__ import annotations

from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule
from torch import nn

from pyro_local.models.gaussian_vae import LATENT, GaussianVAE
from pyro_local.nn.dense import GaussianHead, check_dims, dense_mlp


class GaussianEncoderGuide(PyroModule):
    """
    ``q(z | x) = Normal(loc(x), diag(scale(x)^2))`` from an MLP encoder, the guide of
    :class:`~pyro_local.models.GaussianVAE` (as in Pyro's VAE tutorial). The KL against
    the standard normal prior is taken in closed form by
    :class:`~pyro_local.infer.LocalELBO` and Pyro's ``TraceMeanField_ELBO``.

    :param GaussianVAE model: the model.
    :param hidden_dims: hidden widths of the encoder (default the model's decoder
        widths, reversed).
    :param activation: activation module class.
    :param bool batch_norm: batch-normalise the hidden layers (default ``True``, as
        for the rectified hierarchy's encoders, so the baselines differ only in the
        latent model).
    :param float min_scale: lower bound on the posterior scale.
    """

    def __init__(
        self,
        model: GaussianVAE,
        hidden_dims: Sequence[int] | None = None,
        activation: type[nn.Module] = nn.ELU,
        batch_norm: bool = True,
        min_scale: float = 1e-3,
    ):
        if not isinstance(model, GaussianVAE):
            raise TypeError(f"model: expected a GaussianVAE, got {type(model).__name__}")
        super().__init__()
        if hidden_dims is None:
            hidden_dims = tuple(reversed(model.hidden_dims))
        hidden_dims = check_dims(hidden_dims, "hidden_dims", allow_empty=True)
        self._model = (model,)
        self.body = dense_mlp(model.x_dim, hidden_dims, None, activation, batch_norm)
        width = hidden_dims[-1] if hidden_dims else model.x_dim
        self.head = GaussianHead(width, model.z_dim, min_scale)

    @property
    def model(self) -> GaussianVAE:
        """The model this guide approximates the posterior of."""
        return self._model[0]

    def forward(self, x: torch.Tensor, batch_size: int | None = None):
        """The Pyro guide; same arguments as the model. :returns: the sample of ``z``."""
        n = self.model.observation.data_size(x)
        loc, scale = self.head(self.body(x))
        with pyro.plate("data", n, dim=-1):
            return pyro.sample(LATENT, dist.Normal(loc, scale).to_event(1))
