"""Models built from pyro-local layers and distributions (installed as ``pyro_local.models``)."""

from .gaussian_vae import LATENT, GaussianVAE
from .likelihoods import Likelihood, ObservationModel
from .rectified_hierarchy import OBSERVED, RectifiedHierarchy, latent_name

__all__ = [
    "LATENT",
    "OBSERVED",
    "GaussianVAE",
    "Likelihood",
    "ObservationModel",
    "RectifiedHierarchy",
    "latent_name",
]
