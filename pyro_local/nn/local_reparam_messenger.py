"""The local reparameterization handler: pre-activations sampled, weights never."""

from __future__ import annotations

from pyro.distributions.kl import kl_divergence
from pyro.infer.util import is_validation_enabled
from pyro.poutine.messenger import Messenger

from .deferred import LOCAL_REPARAM, defer, deferred_posterior
from .local_reparam import check_posterior, sample_preactivations


class LocalReparameterizationMessenger(Messenger):
    """The messenger of :func:`local_reparameterization` (see there)."""

    def _pyro_sample(self, msg):
        if msg["is_observed"] or not msg["infer"].get(LOCAL_REPARAM):
            return
        value = msg["value"]
        if value is None and not msg["done"]:
            fn = msg["fn"]
            if fn.batch_shape:  # a vectorized draw: no single posterior to defer to
                return
            check_posterior(fn, fn.event_shape)
            msg["value"] = defer(fn)
            msg["done"] = True
            return
        posterior = deferred_posterior(value)
        if posterior is not None and msg["fn"] is not posterior and is_validation_enabled():
            _check_closed_form_kl(msg["name"], posterior, msg["fn"])

    def _pyro_weight_apply(self, msg):
        x, weight = msg["args"]
        posterior = deferred_posterior(weight)
        if posterior is None or msg["done"]:
            return
        kwargs = msg["kwargs"]
        msg["value"] = sample_preactivations(
            kwargs["weight_map"], x, posterior, kwargs.get("pseudo")
        )
        msg["done"] = True


#: The structures of the (posterior, prior) pairs whose closed-form KL was found to
#: exist: a memo of a function of types and shapes (as torch memoizes its KL
#: dispatch), so that validation computes each pair's KL once, not on every step.
_KL_FOUND: set = set()


def _structure(fn):
    """The types and shapes of ``fn`` and of every distribution it wraps."""
    parts = []
    while fn is not None:
        ndims = getattr(fn, "reinterpreted_batch_ndims", None)
        parts.append((type(fn), tuple(fn.batch_shape), tuple(fn.event_shape), ndims))
        fn = getattr(fn, "base_dist", None)
    return tuple(parts)


def _check_closed_form_kl(name, posterior, prior):
    key = (_structure(posterior), _structure(prior))
    if key in _KL_FOUND:
        return
    try:
        kl_divergence(posterior, prior)
    except NotImplementedError:
        raise ValueError(
            f"site {name!r}: local reparameterization defers the weight sample, so the ELBO "
            f"needs KL({type(posterior).__name__} || {type(prior).__name__}) in closed form, "
            "and none is registered; use a MatrixNormal or Normal(...).to_event(2) prior"
        ) from None
    _KL_FOUND.add(key)


def local_reparameterization(fn=None):
    """
    Gives Bayesian layers the local reparameterization trick (Kingma et al. 2015;
    Louizos & Welling 2016): their pre-activations are drawn from their marginal
    under the weight posterior, and the weight matrix is never sampled.

    The handler has two effects, both on sites that opt in:

    - a weight sample site marked ``infer={"local_reparam": True}`` (as the guides
      :class:`~pyro_local.guides.AutoMatrixNormal` and
      :class:`~pyro_local.guides.AutoMeanFieldNormal` mark theirs) is not sampled;
      its value becomes a *deferred weight* (``pyro_local.nn.deferred``) that
      carries its distribution. Replayed into the model it reaches the layer;
    - the layers' effectful op ``weight_apply`` given a deferred
      weight draws the pre-activations ``b_n ~ N(a_n M, (a_n U a_n^T) V)``
      (``pyro_local.nn.local_reparam.sample_preactivations``).

    Nothing is patched: the layers emit the op themselves, so the handler nests,
    is thread-local like every Pyro handler, and leaves ``torch.nn.functional``
    alone. Sites already given a value (``condition``, ``replay`` of a trace
    recorded without this handler), batched weight distributions (inside a
    vectorized plate) and ops on ordinary tensors are left as they are.

    **When it is active.** Wrap training in it, so that it spans the guide and the
    model of every step; leave it off for predictive draws of whole weight
    matrices (``Predictive(..., parallel=True)`` then gets one weight per sample and
    a leading sample dimension)::

        with local_reparameterization():
            for x, y in batches:
                svi.step(x, y)
        predictive = Predictive(model, guide=guide, num_samples=100, parallel=True)

    Under the handler ``Predictive`` also works; its per-example predictive
    distributions are the same for dense layers (each example sees its own weight
    draw), at the cost of no correlation between examples.

    **ELBO.** A deferred weight is not a sample, so the KL of a deferred site must
    be taken in closed form: use :class:`~pyro_local.infer.LocalELBO` or Pyro's
    ``TraceMeanField_ELBO`` (``Trace_ELBO`` would score the posterior mean). Under
    validation the handler checks that the model's prior has a registered KL with
    the weight posterior, once for each structure of the pair (the types, wrappers
    and shapes: what decides whether a registered KL applies), not on every step.

    :param callable fn: optional function to wrap; if omitted, returns the messenger
        (a context manager).
    """
    messenger = LocalReparameterizationMessenger()
    return messenger if fn is None else messenger(fn)
