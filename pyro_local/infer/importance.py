"""Importance-sampled marginal likelihoods: the IWAE bound of Burda et al. (2016)."""

from __future__ import annotations

import math
from typing import NamedTuple

import pyro
import torch
from pyro import poutine
from pyro.poutine.util import site_is_subsample

from .._checks import check_int

#: The name of the plate that vectorizes the importance samples.
PARTICLES = "importance_particles"


class ImportanceEstimate(NamedTuple):
    """
    Per-datum importance-sampling results.

    :param torch.Tensor log_weights: ``log p(x_n, z_k) - log q(z_k | x_n)``, shape
        ``(num_samples, N)``; sample ``k`` of datum ``n`` is drawn independently of
        the others.
    :param torch.Tensor log_likelihood: the ``K``-sample bound
        ``log (1/K) sum_k w_kn``, shape ``(N,)``.
    :param torch.Tensor elbo: the mean log weight, a ``K``-sample Monte Carlo
        estimate of each datum's ELBO, shape ``(N,)``.
    :param torch.Tensor ess: effective sample size ``(sum w)^2 / sum w^2``, in
        ``[1, K]``, shape ``(N,)``.
    """

    log_weights: torch.Tensor
    log_likelihood: torch.Tensor
    elbo: torch.Tensor
    ess: torch.Tensor


def iwae_bound(log_weights: torch.Tensor, num_samples: int) -> torch.Tensor:
    """
    The ``k``-sample importance-weighted bounds from ``K`` draws, averaged over the
    ``K / k`` disjoint groups of ``k`` consecutive draws (an unbiased estimate of
    ``E[log (1/k) sum_{i<=k} w_i]``, the bound ``L_k`` of Burda et al.).

    :param torch.Tensor log_weights: shape ``(K, ...)``.
    :param int num_samples: ``k``, a divisor of ``K``.
    :returns: shape ``(...)``.
    """
    total = log_weights.shape[0]
    check_int(num_samples, "num_samples")
    if total % num_samples:
        raise ValueError(f"num_samples: expected a divisor of {total}, got {num_samples}")
    groups = log_weights.reshape(total // num_samples, num_samples, *log_weights.shape[1:])
    return (torch.logsumexp(groups, dim=1) - math.log(num_samples)).mean(0)


def _log_weights(model, guide, args, kwargs, num_samples, particle_dim):
    with pyro.plate(PARTICLES, num_samples, dim=particle_dim):
        guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(
            *args, **kwargs
        )
    log_w = 0.0
    for trace, sign in ((model_trace, 1.0), (guide_trace, -1.0)):
        for name, site in trace.nodes.items():
            if site["type"] != "sample" or site_is_subsample(site):
                continue
            in_data_plate = any(
                f.dim == particle_dim + 1 for f in site["cond_indep_stack"] if f.name != PARTICLES
            )
            log_p = site["fn"].log_prob(site["value"], *site["args"], **site["kwargs"])
            if not in_data_plate or log_p.dim() != -particle_dim:
                raise ValueError(
                    f"site {name!r}: expected a site inside a data plate at dim="
                    f"{particle_dim + 1} with log-probability of shape (num_samples, N), got "
                    f"shape {tuple(log_p.shape)}; global latents have no per-datum "
                    "importance weights"
                )
            log_w = log_w + sign * log_p
    return log_w


@torch.no_grad()
def importance_log_likelihood(
    model, guide, *args, num_samples: int = 1000, chunk_size: int = 100, **kwargs
) -> ImportanceEstimate:
    """
    Importance-sampled estimate of ``log p(x_n)`` for every datum of a batch, with
    the guide as proposal: ``log (1/K) sum_k p(x_n, z_k) / q(z_k | x_n)``, the
    importance-weighted bound of Burda et al. (2016). Its expectation increases with
    ``K`` towards ``log p(x_n)`` and is at least the ELBO.

    Samples are vectorized by a plate at ``dim=-2`` (named ``"importance_particles"``) around
    the guide and the model, ``chunk_size`` at a time to bound memory, so the model
    and guide must put every sample site in one data plate at ``dim=-1`` and
    broadcast over a leading sample dimension (as
    :class:`~pyro_local.models.RectifiedHierarchy` does). Log-densities are the
    distributions' own (for rectified Gaussians, with respect to atom plus Lebesgue
    measure in both ``p`` and ``q``, so the weights are well defined). Put modules
    with batch normalisation in evaluation mode first (``.eval()``), so that ``q`` is
    a function of each datum alone.

    :param model: a Pyro model.
    :param guide: its guide (the proposal).
    :param args: the model's arguments (the batch).
    :param int num_samples: ``K``, samples per datum.
    :param int chunk_size: samples drawn per vectorized pass.
    :param kwargs: the model's keyword arguments.
    :returns: an :class:`ImportanceEstimate`.

    Example::

        model.eval(); guide.eval()
        est = importance_log_likelihood(model, guide, x_test, num_samples=1000)
        print(est.log_likelihood.mean(), iwae_bound(est.log_weights, 10).mean())
    """
    check_int(num_samples, "num_samples")
    check_int(chunk_size, "chunk_size")
    chunks = []
    remaining = num_samples
    while remaining > 0:
        k = min(chunk_size, remaining)
        chunks.append(_log_weights(model, guide, args, kwargs, k, particle_dim=-2))
        remaining -= k
    log_w = torch.cat(chunks, dim=0)
    log_norm = torch.logsumexp(log_w, dim=0)
    ess = torch.exp(2 * log_norm - torch.logsumexp(2 * log_w, dim=0))
    return ImportanceEstimate(
        log_weights=log_w,
        log_likelihood=log_norm - math.log(num_samples),
        elbo=log_w.mean(0),
        ess=ess,
    )
