"""Deferred weight samples: a weight site's value that stands for its distribution.

Under :func:`pyro_local.nn.local_reparameterization` a weight site marked
``infer={"local_reparam": True}`` is not sampled. Its value is a *deferred weight*:
a tensor equal to the distribution's mean (so that shapes, traces and any
log-density that an ELBO computes and discards stay valid) that carries the
distribution itself. The layers' effectful op
:func:`~pyro_local.nn.weight_op.weight_apply` then draws the layer's
pre-activations from their marginal under that distribution.

A deferred weight is not a sample: an ELBO must take the KL of such a site in
closed form (:class:`~pyro_local.infer.LocalELBO`, Pyro's ``TraceMeanField_ELBO``),
never ``log p(w) - log q(w)`` at the value.
"""

from __future__ import annotations

import torch

#: ``site["infer"]`` key marking a weight site whose value only a layer's
#: :func:`~pyro_local.nn.weight_op.weight_apply` consumes, so its sampling may be deferred.
LOCAL_REPARAM = "local_reparam"

#: ``site["infer"]`` key saying that the last row of a weight matrix is the bias (for
#: guides' initialization).
BIAS_ROW = "bias_row"

#: ``site["infer"]`` key giving the scale, in the site's units, of a well-initialised
#: weight: ``1/sqrt(n)`` of the pre-activations' units for ``n`` rows (so
#: ``1/sqrt(n)`` in the standard parametrization, 1 in the paper's fan-in-scaled one).
#: Guides initialise weight posteriors relative to it.
WEIGHT_SCALE = "weight_scale"

_ATTR = "_pyro_local_posterior"


def defer(posterior) -> torch.Tensor:
    """A deferred weight for ``posterior``: a new tensor object that views its
    (detached) mean and carries ``posterior``. It shares memory with the mean (a copy
    would cost a pass over the weights on every step), so it shows the mean of the
    moment it is read; nothing writes into it."""
    value = posterior.mean.detach()
    setattr(value, _ATTR, posterior)
    return value


def deferred_posterior(value):
    """The distribution a deferred weight stands for, or ``None`` for any other value."""
    return getattr(value, _ATTR, None) if isinstance(value, torch.Tensor) else None
