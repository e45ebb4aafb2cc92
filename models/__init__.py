"""Models built from pyro-local layers and distributions (installed as ``pyro_local.models``).

- Bayesian networks with matrix-variate Gaussian weight posteriors (Louizos & Welling
  2016): :func:`bayes_mlp` and :func:`bayes_lenet5` build them as a
  :class:`pyro_local.nn.Stack` of Bayesian blocks, trained layer by layer
  with :func:`pyro_local.nn.local_net` or with one global ELBO as a
  :class:`BayesianClassifier`, whose posterior predictive class probabilities
  :func:`predictive_probs` gives.
- Networks for local learning rules, each a :class:`pyro_local.nn.Stack` trainable end
  to end (:func:`pyro_local.nn.backprop_net`) or with any local rule
  (:func:`pyro_local.nn.local_net`): :func:`mlp`, :func:`small_conv`, :func:`vgg8`,
  :func:`small_vit`.
- Deep generative models with sparse rectified-Gaussian latents (Salimans 2016):
  :class:`RectifiedHierarchy`, and the one-layer :class:`GaussianVAE` baseline.
"""

from .architectures import bayes_lenet5, bayes_mlp
from .bayesian_blocks import BayesianClassifier
from .gaussian_vae import GaussianVAE
from .mlp import mlp
from .predict import predictive_probs
from .rectified_hierarchy import RectifiedHierarchy
from .small_conv import small_conv
from .vgg import vgg8
from .vit import small_vit

__all__ = [
    "BayesianClassifier",
    "GaussianVAE",
    "RectifiedHierarchy",
    "bayes_lenet5",
    "bayes_mlp",
    "mlp",
    "predictive_probs",
    "small_conv",
    "small_vit",
    "vgg8",
]
