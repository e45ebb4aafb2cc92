"""The effectful op through which Bayesian layers use their weight matrix."""

from __future__ import annotations

from pyro.poutine.runtime import effectful

from .deferred import deferred_posterior
from .local_reparam import sample_preactivations

#: The message type of :func:`weight_apply`; handlers implement ``_pyro_weight_apply``.
WEIGHT_APPLY = "weight_apply"


def _weight_apply(x, weight, *, weight_map, pseudo=None):
    """``c [a, 1] W`` for the rows ``a`` of ``x`` (see :mod:`pyro_local.nn.weight_maps`):
    the pre-activations of a Bayesian layer, as an effectful op.

    With no handler the op computes with the weight it is given, batched weights
    included (a leading sample dimension from a vectorized ``Predictive``).
    :func:`~pyro_local.nn.local_reparameterization` gives it the local
    meaning: for a deferred weight (:mod:`pyro_local.nn.deferred`) it draws the
    pre-activations from their marginal (:func:`sample_preactivations`).

    :param torch.Tensor x: the layer's input.
    :param torch.Tensor weight: the weight matrix, shape ``(..., n, p)``, or a deferred weight.
    :param WeightMap weight_map: the layer's geometry.
    :param PseudoData pseudo: optional pseudo-data (needs a deferred MatrixNormal weight).
    """
    posterior = deferred_posterior(weight)
    if posterior is not None:
        # Reached only when a handler between the layer and
        # local_reparameterization() hid this op (e.g. poutine.block): a deferred
        # weight has no value to compute with, its marginal is its only meaning.
        return sample_preactivations(weight_map, x, posterior, pseudo)
    if pseudo is not None:
        raise ValueError(
            "pseudo-data condition the pre-activation distribution, which needs the "
            "weight's posterior: run under pyro_local.nn.local_reparameterization() "
            "with a guide that marks the weight site infer={'local_reparam': True}"
        )
    return weight_map.apply(x, weight)


weight_apply = effectful(_weight_apply, type=WEIGHT_APPLY)
