"""A deep generative model whose latent layers are rectified Gaussians (Salimans, 2016)."""

from __future__ import annotations

from collections.abc import Sequence

import pyro
import torch
from pyro.nn import PyroModule
from torch import nn

from pyro_local.distributions import RectifiedNormal
from pyro_local.nn.dense import GaussianHead, check_dims, dense_mlp
from pyro_local.poutine import layer

from .likelihoods import ObservationModel

#: The site and layer name of the observed image.
OBSERVED = "x"


def latent_name(index: int) -> str:
    """The site and layer name of latent layer ``index`` (0 next to the data): ``"z1"``, ..."""
    return f"z{index + 1}"


class RectifiedHierarchy(PyroModule):
    """
    A hierarchy of rectified-Gaussian latent layers over an image,
    ``z_L -> ... -> z_1 -> x``::

        z_L ~ RectifiedNormal(0, 1)
        z_l ~ RectifiedNormal(loc_l(z_{l+1}), scale_l(z_{l+1}))      l = L-1, ..., 1
        x   ~ p(x | decoder(z_1))        Bernoulli, Gaussian or continuous Bernoulli

    Each unit ``z = max(0, y)`` with ``y`` normal has an atom at zero, so the layers are
    sparse (spike and slab) yet reparameterizable (Salimans, 2016). ``loc_l`` and
    ``scale_l`` come from a one-hidden-layer network of the layer above. The default,
    four layers of 300, 200, 100 and 50 units (largest next to the data), follows the
    paper; the hidden widths are this library's choice.

    The model is a Pyro program, ``model(x)``, with one site per layer: latents
    ``"z1"``, ..., ``"zL"`` (event shape ``(width,)``) and the observed ``"x"``, all
    in a ``"data"`` plate at ``dim=-1``. Each site is labelled with its own layer by
    :func:`pyro_local.poutine.layer` (labels as site names), so
    :meth:`pyro_local.infer.LocalELBO.layer_losses` reports the expected negative
    log-likelihood as layer ``"x"`` and the KL of each latent layer, conditional on
    the sampled layer above, as layer ``"z<l>"``. Train it jointly with
    ``LocalSVI(model, guide, strict=False)``: the guides share the model's top-down
    networks, so those parameters are reached by several layers' losses. It is a
    PyroModule, so Pyro's own ``SVI`` (with ``TraceMeanField_ELBO``, whose KLs are
    in closed form) trains it too.

    There is no batch normalisation in the generative path: in training mode it would
    make ``p(x)`` of one image depend on the other images of its batch, so the model
    trained would not be the model evaluated. The guides normalise their bottom-up
    pass instead (see :class:`~pyro_local.guides.StructuredRectifiedGuide`).

    The model broadcasts over leading sample dimensions: run it inside a plate at
    ``dim=-2`` (or lower) to draw several particles per image, as
    :func:`pyro_local.infer.importance_log_likelihood` does.

    :param int x_dim: pixels per image (784 for 28 x 28).
    :param latent_dims: widths of the latent layers, from the data up
        (``z_1, ..., z_L``).
    :param hidden_dims: width of the hidden layer of each conditional, from the
        data up: ``hidden_dims[0]`` in ``p(x | z_1)``, ``hidden_dims[l]`` in
        ``p(z_l | z_{l+1})``; default ``(512, 256, 128, 64)`` for four layers,
        otherwise twice each latent width.
    :param likelihood: the distribution of each pixel given the decoder's output:
        ``"bernoulli"`` (default; binary pixels, the decoder gives logits),
        ``"gaussian"`` (real pixels, a learned scale per pixel) or
        ``"continuous_bernoulli"`` (intensities in [0, 1], Loaiza-Ganem & Cunningham
        2019).
    :param activation: activation module class of the hidden layers.
    :param float min_scale: lower bound on every latent scale.

    Example::

        model = RectifiedHierarchy(x_dim=784)
        guide = StructuredRectifiedGuide(model)
        svi = LocalSVI(model, guide, strict=False, optim=torch.optim.Adamax,
                       optim_args={"lr": 2e-3})
        info = svi.step(x)  # info.layer_losses: {"x": ..., "z1": ..., ..., "z4": ...}
    """

    def __init__(
        self,
        x_dim: int = 784,
        latent_dims: Sequence[int] = (300, 200, 100, 50),
        hidden_dims: Sequence[int] | None = None,
        likelihood="bernoulli",
        activation: type[nn.Module] = nn.ELU,
        min_scale: float = 1e-3,
    ):
        super().__init__()
        (x_dim,) = check_dims([x_dim], "x_dim")
        latent_dims = check_dims(latent_dims, "latent_dims")
        if hidden_dims is None:
            if latent_dims == (300, 200, 100, 50):
                hidden_dims = (512, 256, 128, 64)
            else:
                hidden_dims = tuple(2 * d for d in latent_dims)
        hidden_dims = check_dims(hidden_dims, "hidden_dims")
        if len(hidden_dims) != len(latent_dims):
            raise ValueError(
                f"hidden_dims: expected one width per latent layer ({len(latent_dims)}), "
                f"got {hidden_dims!r}"
            )
        if not min_scale > 0:
            raise ValueError(f"min_scale: expected a positive float, got {min_scale!r}")
        self.x_dim = x_dim
        self.latent_dims = latent_dims
        self.hidden_dims = hidden_dims
        self.min_scale = float(min_scale)
        self.decoder = dense_mlp(latent_dims[0], [hidden_dims[0]], x_dim, activation)
        self.observation = ObservationModel(likelihood, x_dim)
        # top_down[l] gives the parameters of z_{l+1} from z_{l+2} (0-based l).
        self.top_down = nn.ModuleList(
            nn.Sequential(
                dense_mlp(latent_dims[l + 1], [hidden_dims[l + 1]], None, activation),
                GaussianHead(hidden_dims[l + 1], latent_dims[l], min_scale),
            )
            for l in range(len(latent_dims) - 1)
        )
        self.register_buffer("top_loc", torch.zeros(latent_dims[-1]))
        self.register_buffer("top_scale", torch.ones(latent_dims[-1]))

    @property
    def num_layers(self) -> int:
        """The number of latent layers ``L``."""
        return len(self.latent_dims)

    @property
    def latent_names(self) -> tuple[str, ...]:
        """Site (and layer) names of the latent layers, from the data up."""
        return tuple(latent_name(l) for l in range(self.num_layers))

    def prior_params(self, index: int, z_above: torch.Tensor | None):
        """
        Location and scale of the normal underlying ``p(z_l | z_{l+1})``, for latent
        layer ``index`` (0-based from the data) given the sample ``z_above`` of the
        layer above (``None`` for the top layer). The guides call this too: their
        top-down pass is the model's.

        :returns: ``(loc, scale)``, each shaped ``(..., latent_dims[index])``.
        """
        if index == self.num_layers - 1:
            return self.top_loc, self.top_scale
        if z_above is None:
            raise ValueError(f"prior_params: layer {index} needs the sample of the layer above")
        return self.top_down[index](z_above)

    def data_size(self, x, batch_size=None) -> int:
        """``len(x)`` after validating ``x``, or ``batch_size`` when ``x`` is ``None``."""
        return self.observation.data_size(x, batch_size)

    def forward(self, x: torch.Tensor | None = None, batch_size: int | None = None):
        """
        The Pyro model.

        :param torch.Tensor x: images, shape ``(batch, x_dim)``; ``None`` to sample.
        :param int batch_size: how many images to sample when ``x`` is ``None``.
        :returns: the decoder's output (logits or means) for ``z_1``.
        """
        n = self.data_size(x, batch_size)
        with pyro.plate("data", n, dim=-1):
            z = None
            for l in reversed(range(self.num_layers)):
                name = latent_name(l)
                with layer(name):
                    loc, scale = self.prior_params(l, z)
                    if l == self.num_layers - 1:
                        loc, scale = loc.expand(n, -1), scale.expand(n, -1)
                    z = pyro.sample(name, RectifiedNormal(loc, scale).to_event(1))
            out = self.decoder(z)
            with layer(OBSERVED):
                pyro.sample(OBSERVED, self.observation(out), obs=x)
        return out

    def image_mean(self, out: torch.Tensor) -> torch.Tensor:
        """The mean image for the decoder output ``out`` (what :meth:`forward` returns)."""
        return self.observation.mean(out)
