"""The mean-field (bottom-up only) guide of a rectified-Gaussian hierarchy."""

from __future__ import annotations

from collections.abc import Sequence

import pyro
import torch
from torch import nn

from pyro_local.distributions import RectifiedNormal
from pyro_local.models.rectified_hierarchy import RectifiedHierarchy, latent_name

from .bottom_up import BottomUpEncoder


class MeanFieldRectifiedGuide(nn.Module):
    """
    ``q(z_1, ..., z_L | x) = prod_l RectifiedNormal(encoder_l(x))``: every latent layer
    read off the bottom-up pass over ``x`` alone, independent of the layers above (the
    usual amortized mean-field posterior of a deep latent-variable model). The baseline
    against which :class:`StructuredRectifiedGuide` is compared: same model, same
    bottom-up network, no top-down dependencies.

    :param RectifiedHierarchy model: the model.
    :param hidden_dims: widths of the bottom-up pass (default the model's).
    :param activation: activation module class.
    :param bool batch_norm: batch-normalise the bottom-up pass (default ``True``).
    :param float min_scale: lower bound on the posterior scales.
    """

    def __init__(
        self,
        model: RectifiedHierarchy,
        hidden_dims: Sequence[int] | None = None,
        activation: type[nn.Module] = nn.ELU,
        batch_norm: bool = True,
        min_scale: float = 1e-3,
    ):
        if not isinstance(model, RectifiedHierarchy):
            raise TypeError(f"model: expected a RectifiedHierarchy, got {type(model).__name__}")
        super().__init__()
        self._model = (model,)  # not a submodule: the guide owns only its encoder
        self.encoder = BottomUpEncoder(
            model.x_dim,
            model.latent_dims,
            model.hidden_dims if hidden_dims is None else hidden_dims,
            activation,
            batch_norm,
            min_scale,
        )

    @property
    def model(self) -> RectifiedHierarchy:
        """The model this guide approximates the posterior of."""
        return self._model[0]

    def forward(self, x: torch.Tensor, batch_size: int | None = None):
        """
        The Pyro guide; same arguments as the model.

        :returns: ``{site name: sample}``.
        """
        model = self.model
        n = model.data_size(x)
        factors = self.encoder(x)
        samples = {}
        with pyro.plate("data", n, dim=-1):
            for l in reversed(range(model.num_layers)):
                name = latent_name(l)
                samples[name] = pyro.sample(name, RectifiedNormal(*factors[l]).to_event(1))
        return samples
