"""The data of a run's report, for every model the command line trains: the fit's draws
on training examples, kept with the held-out results in one InferenceData.

:func:`fit_data` draws from the guide of any :class:`~pyro_local.cli.jobs.Job` that has
a posterior (the Bayesian classifiers, the rectified hierarchy, a factory's model with a
guide); a network without one keeps only its per-layer loss history. Each job's
``report`` hook then adds what its held-out data give (a classifier's predictions, or a
model's own test metrics). :func:`~pyro_local.diagnostics.save_netcdf` keeps the result
as ``inference_data.nc`` beside the report, written atomically.
"""

from __future__ import annotations

import torch

__all__ = ["TEST_POINTS", "fit_data", "test_subset"]

#: Test examples of the report's held-out checks by default.
TEST_POINTS = 1000

#: Posterior draws per vectorized pass when drawing the fit: bounds memory.
DRAW_CHUNK = 10


def fit_data(job, draws: int, points: int, seed: int, progress: bool = True):
    """
    The fit's InferenceData: ``draws`` draws from ``job``'s guide scored on its first
    ``points`` training examples (transformed as in training, seeded by ``seed``), with
    the loss history; only the history for a job without latent variables.

    :param int draws: posterior draws; every ``draws // 50``-th is kept in full.
    :rtype: arviz.InferenceData
    """
    import arviz as az

    from .. import diagnostics as diag
    from ..diagnostics.inference_data import history_dataset

    history = job.svi.history
    post = job.posterior
    if post is not None:
        subset = [t[:points] for t in job.train]
        if job.transform is not None:
            generator = torch.Generator(device=subset[0].device).manual_seed(seed)
            subset[0] = job.transform(subset[0], generator)
        idata = diag.to_inference_data(
            post.model, post.guide, *subset, num_samples=draws, thin=max(1, draws // 50),
            obs_sites=post.obs_sites, history=history, parallel=post.vectorized,
            chunk_size=DRAW_CHUNK if post.vectorized else None, progress=progress)
        # A guide with no latent variables (a factory's deterministic LocalNet) is a
        # point estimate: nothing to judge by importance sampling, as for local-smallconv.
        if idata.sample_stats.attrs.get("latent_dimension", 1) > 0:
            return idata
    return az.InferenceData(optimization_history=history_dataset(history))


def test_subset(test: tuple, points: int) -> tuple:
    """The first ``points`` examples of the test tensors."""
    return tuple(t[:points] for t in test)
