"""The rectified-Gaussian hierarchy as a command-line model (a factory, like your own)."""

from __future__ import annotations

import math

import torch

from .config import EVAL_BATCH
from .model_spec import ModelSpec

GUIDES = ("structured", "mean-field")


def layer_elbos(model, guide, x: torch.Tensor, batch_size: int = EVAL_BATCH) -> dict[str, float]:
    """
    Each layer's ELBO term per image, averaged over ``x`` (closed-form KLs, one draw
    per image): ``"x"`` the expected log-likelihood, ``"z<l>"`` minus the KL of latent
    layer ``l`` given the layer above. Their sum is the ELBO.
    """
    from ..infer import LocalELBO

    sums: dict[str, float] = {}
    for i in range(0, len(x), batch_size):
        for layer, loss in LocalELBO().layer_losses(model, guide, x[i : i + batch_size]).items():
            sums[layer] = sums.get(layer, 0.0) - float(loss)
    return {layer: total / len(x) for layer, total in sums.items()}


def hierarchy_metrics(model, guide, x: torch.Tensor, num_samples: int,
                      batch_size: int = 100, activity_samples: int = 20) -> dict:
    """
    Test metrics of a trained hierarchy on binary images ``x`` (put model and guide
    in evaluation mode first): the ELBO and its per-layer terms, the importance-
    weighted bound with ``num_samples`` samples (Burda et al. 2016) with its standard
    error over images, the mean effective sample size, and per latent layer the
    active units and the fraction of exactly-zero units.
    """
    from ..diagnostics.latent_activity import latent_activity
    from ..infer import importance_log_likelihood

    layers = layer_elbos(model, guide, x)
    log_lik, ess = [], []
    for i in range(0, len(x), batch_size):
        est = importance_log_likelihood(model, guide, x[i : i + batch_size],
                                        num_samples=num_samples,
                                        chunk_size=min(num_samples, 100))
        log_lik.append(est.log_likelihood)
        ess.append(est.ess)
    log_lik = torch.cat(log_lik).double()
    batches = [(x[i : i + EVAL_BATCH],) for i in range(0, len(x), EVAL_BATCH)]
    activity = latent_activity(guide, batches, sites=model.latent_names,
                               num_samples=activity_samples)
    return {
        "test_elbo": sum(layers.values()),
        "test_elbo_layers": layers,
        "iwae": float(log_lik.mean()),
        "iwae_se": float(log_lik.std() / math.sqrt(len(log_lik))) if len(log_lik) > 1 else 0.0,
        "ess_mean": float(torch.cat(ess).mean()),
        "active_units": {k: a.active_units for k, a in activity.items()},
        "zero_fraction": {k: a.zero_fraction for k, a in activity.items()},
    }


def rectified_hierarchy(*, data="fashion-mnist", latent_dims=None,
                        device="cpu", seed=0, guide="structured", test_images=None):
    """
    Deep rectified-Gaussian hierarchy on binarized images (Salimans 2016), trained
    jointly with Adamax (default lr 2e-3); evaluated by test ELBO, IWAE and active units.

    Training images are binarized afresh in every batch, test images once (seed 0).
    ``evaluate`` reports the ELBO per layer, the IWAE bound with ``--num-samples``
    samples, and active units; the report adds the sparsity of each latent layer
    (from the guide's draws on training images).

    :param str data: an image dataset of :func:`pyro_local.data.load`.
    :param latent_dims: latent widths, largest next to the data (``--latent-dims``;
        ``None``: the model's own).
    :param str guide: ``"structured"`` (top-down, keeps the model's dependencies) or
        ``"mean-field"`` (``--option guide=mean-field``).
    :param int test_images: evaluate on the first ``test_images`` test images only
        (``--option test_images=2000``; default all).
    """
    from ..data import binarize_dynamic, binarize_static, load
    from ..guides import MeanFieldRectifiedGuide, StructuredRectifiedGuide
    from ..models import RectifiedHierarchy
    from .errors import UsageError

    if guide not in GUIDES:
        raise UsageError(f"--option guide: expected one of {list(GUIDES)}, got {guide!r}")
    torch.manual_seed(seed)
    widths = {} if latent_dims is None else {"latent_dims": tuple(latent_dims)}
    model = RectifiedHierarchy(**widths).to(device)
    guide_cls = StructuredRectifiedGuide if guide == "structured" else MeanFieldRectifiedGuide
    q = guide_cls(model).to(device)
    train = load(data, "train", normalize="unit", flatten=True, device=device).images

    def test():
        x = load(data, "test", normalize="unit", flatten=True).images[:test_images]
        return (binarize_static(x, seed=0).to(device),)

    def evaluate(test_data, num_samples):
        return hierarchy_metrics(model, q, test_data[0], num_samples)

    return ModelSpec(model, q, train=(train,), test=test, transform=binarize_dynamic,
                     optim=torch.optim.Adamax, optim_args={"lr": 2e-3}, strict=False,
                     evaluate=evaluate, obs_sites=["x"], vectorized=True)
