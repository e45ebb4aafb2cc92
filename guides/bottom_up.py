"""The deterministic bottom-up pass over the data that amortized guides share."""

from __future__ import annotations

from collections.abc import Sequence

import pyro
import torch
from pyro.nn import PyroModule
from torch import nn

from pyro_local.distributions import RectifiedNormal
from pyro_local.models.rectified_hierarchy import RectifiedHierarchy, latent_name
from pyro_local.nn.dense import GaussianHead, check_dims, dense_mlp


class BottomUpEncoder(nn.Module):
    """
    A deterministic pass up a latent hierarchy: ``h_1 = f_1(x)``,
    ``h_l = f_l(h_{l-1})``, each ``f_l`` a ``Linear -> BatchNorm -> activation``
    layer, and per latent layer a Gaussian factor ``(loc_l, scale_l)`` read off
    ``h_l`` by a linear head. What the factors mean is up to the guide: the
    mean-field guide uses them as the posterior's parameters, the structured guide as
    data terms to combine with the top-down prior.

    Batch normalisation sits only here, on the deterministic path from ``x``. In
    training mode (``encoder.train()``) it normalises with the batch's statistics, so
    an image's factors depend on its batch-mates: each image's ELBO is still a lower
    bound (any ``q`` gives one), and normalisation speeds up and stabilises training
    of deep hierarchies (Sønderby et al., 2016). In evaluation mode
    (``encoder.eval()``) it uses running averages, so ``q(z | x)`` is a fixed function
    of ``x`` alone: put the guide in evaluation mode before importance-sampled
    likelihoods, whose weights assume that.

    :param int x_dim: pixels per image.
    :param latent_dims: latent widths from the data up.
    :param hidden_dims: width of each ``h_l``, from the data up (one per latent layer).
    :param activation: activation module class.
    :param bool batch_norm: normalise each hidden layer (default ``True``).
    :param float min_scale: lower bound on each factor's scale.
    """

    def __init__(
        self,
        x_dim: int,
        latent_dims: Sequence[int],
        hidden_dims: Sequence[int],
        activation: type[nn.Module] = nn.ELU,
        batch_norm: bool = True,
        min_scale: float = 1e-3,
    ):
        super().__init__()
        latent_dims = check_dims(latent_dims, "latent_dims")
        hidden_dims = check_dims(hidden_dims, "hidden_dims")
        if len(hidden_dims) != len(latent_dims):
            raise ValueError(
                f"hidden_dims: expected one width per latent layer ({len(latent_dims)}), "
                f"got {hidden_dims!r}"
            )
        widths = (x_dim, *hidden_dims)
        self.steps = nn.ModuleList(
            dense_mlp(widths[l], [widths[l + 1]], None, activation, batch_norm)
            for l in range(len(latent_dims))
        )
        self.heads = nn.ModuleList(
            GaussianHead(h, d, min_scale) for h, d in zip(hidden_dims, latent_dims)
        )

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """
        :param torch.Tensor x: images, shape ``(batch, x_dim)``.
        :returns: ``[(loc_1, scale_1), ..., (loc_L, scale_L)]``, from the data up.
        """
        factors = []
        h = x
        for step, head in zip(self.steps, self.heads):
            h = step(h)
            factors.append(head(h))
        return factors


class BottomUpGuide(PyroModule):
    """
    Base of the guides of a :class:`~pyro_local.models.RectifiedHierarchy` that read
    ``x`` through a :class:`BottomUpEncoder` and sample the latent layers top down,
    each a rectified Gaussian; subclasses define :meth:`posterior_params`.

    The model is held by reference, not as a submodule, so the guide owns only its
    encoder: optimise model and guide together, e.g. ``LocalSVI(model, guide,
    strict=False)``.

    :param RectifiedHierarchy model: the model.
    :param hidden_dims: widths of the bottom-up pass (default the model's).
    :param activation: activation module class.
    :param bool batch_norm: batch-normalise the bottom-up pass (default ``True``).
    :param float min_scale: lower bound on the encoder's scales.
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
        self._model = (model,)  # a tuple, so the model is not registered as a submodule
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

    def posterior_params(self, l: int, factor, z_above):
        """
        ``(loc, scale)`` of ``q(z_l | ...)`` from the encoder's factor ``(loc_e,
        scale_e)`` of layer ``l`` and the sample of the layer above (``None`` at the
        top).
        """
        raise NotImplementedError

    def forward(self, x: torch.Tensor, batch_size: int | None = None):
        """
        The Pyro guide; same arguments as the model.

        :returns: ``{site name: sample}``.
        """
        model = self.model
        factors = self.encoder(x)
        samples = {}
        with pyro.plate("data", model.data_size(x), dim=-1):
            z = None
            for l in reversed(range(model.num_layers)):
                loc, scale = self.posterior_params(l, factors[l], z)
                name = latent_name(l)
                z = pyro.sample(name, RectifiedNormal(loc, scale).to_event(1))
                samples[name] = z
        return samples
