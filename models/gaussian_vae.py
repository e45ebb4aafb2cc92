"""The one-layer Gaussian VAE of Pyro's VAE tutorial, as a baseline."""

from __future__ import annotations

from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule
from torch import nn

from pyro_local.nn.dense import check_dims, dense_mlp
from pyro_local.poutine import layer

from .likelihoods import ObservationModel
from .rectified_hierarchy import OBSERVED

#: The site and layer name of the Gaussian latent.
LATENT = "z"


class GaussianVAE(PyroModule):
    """
    ``z ~ Normal(0, I)``, ``x ~ p(x | decoder(z))``: the single-latent-layer VAE of
    Kingma & Welling (2014) and Pyro's VAE tutorial, with an MLP decoder.

    Sites: the latent ``"z"`` (event shape ``(z_dim,)``) and the observed ``"x"``, in
    a ``"data"`` plate at ``dim=-1``, each in its own layer (``"z"``, ``"x"``) so that
    :meth:`pyro_local.infer.LocalELBO.layer_losses` and ``LocalSVI``'s history report
    the KL and the reconstruction term apart. Guide:
    :class:`pyro_local.guides.GaussianEncoderGuide`.

    The two layers are reported apart but cannot learn apart: the guide's encoder is
    reached by both the KL (through ``q(z | x)``) and the reconstruction (through the
    sample of ``z``), so ``LocalSVI`` with its default ``strict=True`` rejects the
    pair with a ``LayerLeakError``. Train it jointly, ``LocalSVI(model, guide,
    strict=False)``, as the rectified hierarchy; it is a PyroModule, so Pyro's own
    ``SVI`` trains it too.

    :param int x_dim: pixels per image.
    :param int z_dim: latent units.
    :param hidden_dims: hidden widths of the decoder, from ``z`` to ``x``.
    :param likelihood: ``"bernoulli"``, ``"gaussian"`` or ``"continuous_bernoulli"``.
    :param activation: activation module class of the hidden layers.
    """

    def __init__(
        self,
        x_dim: int = 784,
        z_dim: int = 50,
        hidden_dims: Sequence[int] = (1024,),
        likelihood="bernoulli",
        activation: type[nn.Module] = nn.ELU,
    ):
        super().__init__()
        (x_dim, z_dim) = check_dims([x_dim, z_dim], "x_dim and z_dim")
        self.hidden_dims = check_dims(hidden_dims, "hidden_dims", allow_empty=True)
        self.x_dim, self.z_dim = x_dim, z_dim
        self.decoder = dense_mlp(z_dim, self.hidden_dims, x_dim, activation)
        self.observation = ObservationModel(likelihood, x_dim)

    @property
    def latent_names(self) -> tuple[str, ...]:
        """The latent site names: ``("z",)``."""
        return (LATENT,)

    def forward(self, x: torch.Tensor | None = None, batch_size: int | None = None):
        """
        The Pyro model.

        :param torch.Tensor x: images, shape ``(batch, x_dim)``; ``None`` to sample.
        :param int batch_size: how many images to sample when ``x`` is ``None``.
        :returns: the decoder's output for ``z``.
        """
        n = self.observation.data_size(x, batch_size)
        p = next(self.decoder.parameters())
        loc = torch.zeros(n, self.z_dim, dtype=p.dtype, device=p.device)
        with pyro.plate("data", n, dim=-1):
            with layer(LATENT):
                z = pyro.sample(LATENT, dist.Normal(loc, 1.0).to_event(1))
            out = self.decoder(z)
            with layer(OBSERVED):
                pyro.sample(OBSERVED, self.observation(out), obs=x)
        return out

    def image_mean(self, out: torch.Tensor) -> torch.Tensor:
        """The mean image for the decoder output ``out``."""
        return self.observation.mean(out)
