"""Train a Pyro program with LocalSVI and with Pyro's SVI alike; estimate its ELBO.

Both engines get the same guide set up the same way, the same seed and the same
optimizer class (``ClippedAdam`` with a decaying learning rate, which
``pyro.optim.ClippedAdam`` wraps and ``LocalSVI`` takes as a torch optimizer), so
where their ELBO estimators coincide their runs coincide to rounding.
"""

import math
from typing import NamedTuple

import pyro
import torch
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO
from pyro.optim.clipped_adam import ClippedAdam

from pyro_local.infer import LocalELBO, LocalSVI


class Fit(NamedTuple):
    losses: list
    params: dict


def fit(engine, model, make_guide, args=(), steps=300, lr=0.1, lrd=0.99,
        pyro_elbo=Trace_ELBO, seed=0, num_particles=1, max_plate_nesting=1,
        closed_form_kl=True):
    """
    Trains a fresh guide (``make_guide(model)``) with ``engine``: ``"local"``
    (:class:`LocalSVI`) or ``"pyro"`` (Pyro's SVI with the ELBO class
    ``pyro_elbo``), with ``num_particles`` vectorized particles (a plate left of the
    model's ``max_plate_nesting`` plates, given so that neither ELBO spends random
    numbers guessing it). ``closed_form_kl`` goes to :class:`LocalELBO`.

    :returns: ``(guide, Fit(losses, {name: parameter}))``.
    """
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    guide = make_guide(model)
    guide(*args)  # its setup draws random numbers: before the seed, in both engines
    pyro.set_rng_seed(seed + 1)
    optim_args = {"lr": lr, "lrd": lrd}
    vectorize = {
        "num_particles": num_particles,
        "vectorize_particles": num_particles > 1,
        "max_plate_nesting": max_plate_nesting,
    }
    if engine == "pyro":
        elbo = pyro_elbo(**vectorize)
        svi = SVI(model, guide, pyro.optim.ClippedAdam(optim_args), elbo)
        losses = [svi.step(*args) for _ in range(steps)]
    else:
        elbo = LocalELBO(**vectorize, closed_form_kl=closed_form_kl)
        svi = LocalSVI(model, guide, loss=elbo, optim=ClippedAdam, optim_args=optim_args,
                       seed=seed + 1)  # the stream Pyro's SVI draws from
        losses = [svi.step(*args).loss for _ in range(steps)]
    if isinstance(guide, torch.nn.Module):
        named = guide.named_parameters()
    else:  # a guide of pyro.param statements: they are in Pyro's param store
        named = pyro.get_param_store().named_parameters()
    return guide, Fit(losses, {k: v.detach().clone() for k, v in named})


def elbo_draws(model, guide, args=(), num_particles=4000, max_plate_nesting=1, seed=7):
    """
    Independent draws of ``log p(x, z) - log q(z)``, ``z ~ q``, in one vectorized run
    (a plate left of the model's plates).

    :returns: ``(values, guide_trace)``: ``num_particles`` values, whose mean
        estimates the ELBO and whose standard deviation over ``sqrt(num_particles)``
        is its standard error, and the guide's trace (its draws of each latent).
    """
    pyro.set_rng_seed(seed)
    dim = -max_plate_nesting - 1
    with torch.no_grad(), pyro.plate("particles", num_particles, dim=dim):
        guide_trace = poutine.trace(guide).get_trace(*args)
        model_trace = poutine.trace(poutine.replay(model, guide_trace)).get_trace(*args)
    total = torch.zeros(num_particles, dtype=torch.float64)
    for trace, sign in ((model_trace, 1.0), (guide_trace, -1.0)):
        trace.compute_log_prob()
        for site in trace.nodes.values():
            if site["type"] == "sample" and "log_prob" in site:
                log_p = site["log_prob"].detach()
                if log_p.dim() < -dim:  # outside the particle plate: the same in all
                    total += sign * log_p.sum().double()
                else:
                    total += sign * log_p.reshape(num_particles, -1).sum(-1).double()
    return total, guide_trace


def elbo_difference_within_error(a, b, num_se=4.0):
    """Whether two ELBO estimates (draws) agree within ``num_se`` standard errors."""
    se = math.sqrt(a.var() / len(a) + b.var() / len(b))
    return abs(float(a.mean() - b.mean())) <= num_se * se, float(a.mean() - b.mean()), se
