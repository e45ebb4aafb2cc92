"""Posterior predictive class probabilities of a classifier, in batches."""

from __future__ import annotations

import torch
from pyro import poutine
from pyro.infer import Predictive

from pyro_local._checks import check_int
from pyro_local.nn import local_reparameterization


@torch.no_grad()
def predictive_probs(model, guide, x, num_samples=20, batch_size=500, local=False, parallel=True):
    """Class probabilities under ``num_samples`` posterior draws, for every input.

    Runs a vectorized :class:`~pyro.infer.Predictive` over chunks of ``x``. By
    default each draw is a whole set of weights shared by all inputs; with
    ``local=True`` the draws run under
    :func:`~pyro_local.nn.local_reparameterization` (pre-activations drawn
    per input: the same per-input predictive distribution for dense layers, with
    the approximation of the local draws for convolutions), one draw at a time.

    :param model: a classifier whose ``forward(x)`` returns logits ``(..., N, C)``.
    :param guide: its guide.
    :param torch.Tensor x: inputs, ``(N, ...)``.
    :param int num_samples: posterior draws ``S``.
    :param int batch_size: inputs per chunk.
    :param bool local: draw under the local reparameterization handler.
    :param bool parallel: vectorize the whole-weight draws (``Predictive(...,
        parallel=True)``); pass ``False`` for guides that run the model inside them,
        such as :meth:`~pyro_local.nn.LocalNet.guide`, whose vectorized run puts
        Pyro's sample plate where the model's data plate is.
    :returns: ``(S, N, C)`` probabilities.
    """
    check_int(num_samples, "num_samples")
    chunks = []
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size]
        if local:
            # The guide's deferred weights are replayed into the model as they are
            # (Predictive would condition on copies, which carry no posterior, so
            # layers with pseudo-data could not condition on them).
            with local_reparameterization():
                draws = []
                for _ in range(num_samples):
                    guide_trace = poutine.trace(guide).get_trace(xb)
                    draws.append(poutine.replay(model, trace=guide_trace)(xb))
                logits = torch.stack(draws)
        else:
            predictive = Predictive(
                model,
                guide=guide,
                num_samples=num_samples,
                parallel=parallel,
                return_sites=["_RETURN"],
            )
            logits = predictive(xb)["_RETURN"]
        chunks.append(logits.reshape(num_samples, xb.shape[0], -1).softmax(-1))
    return torch.cat(chunks, 1)
