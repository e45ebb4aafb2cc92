"""The ``layer`` effect handler: which layer of a network each site belongs to."""

from __future__ import annotations

import functools

import torch
from pyro.poutine.messenger import Messenger
from pyro.poutine.util import site_is_subsample

#: The layer of every site that no :func:`layer` handler encloses.
GLOBAL = "global"


def site_layer(site) -> str:
    """
    The layer a trace site was assigned to by :func:`layer`, or :data:`GLOBAL`.

    :param dict site: a site (message) of a :class:`pyro.poutine.Trace`.
    :rtype: str
    """
    return site["infer"].get("layer", GLOBAL)


def guide_site_layers(model_trace, guide_trace) -> dict[str, str]:
    """
    The layer of every sample site of a guide trace. A site the model has belongs to
    the model site's layer (guides such as autoguides run outside the model's layers).
    An auxiliary site (one the model lacks) keeps its own label if it has one, and
    otherwise belongs to the layer of the next guide site that the model has: the
    latent it helps to produce, as AutoNormal's ``"w_unconstrained"`` produces ``"w"``.

    :param pyro.poutine.Trace model_trace: the model replayed against the guide (with
        :func:`~pyro_local.poutine.replay`, so that its sites keep their layers).
    :param pyro.poutine.Trace guide_trace: the guide's trace.
    :returns: ``{site name: layer}``.
    """
    layers, layer_ahead = {}, GLOBAL
    for name, site in reversed(guide_trace.nodes.items()):
        if site["type"] != "sample" or site_is_subsample(site):
            continue
        if name in model_trace.nodes:
            layer_ahead = layers[name] = site_layer(model_trace.nodes[name])
        else:
            layers[name] = site["infer"].get("layer", layer_ahead)
    return layers


def cut(value):
    """
    Stops gradients: detaches every tensor in ``value`` (a tensor, or tuples, lists
    and dicts of them; other objects pass through unchanged).

    This is the explicit boundary between layers in local learning: a tensor that
    one layer computed and the next layer consumes carries no gradient back.
    """
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # NamedTuple
        return type(value)(*(cut(v) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(cut(v) for v in value)
    if isinstance(value, dict):
        return {k: cut(v) for k, v in value.items()}
    return value


class LayerMessenger(Messenger):
    """The messenger of :func:`layer` (see there)."""

    def __init__(self, name: str, cut_inputs: bool = True) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"layer name must be a non-empty str, got {name!r}")
        if name == GLOBAL:
            raise ValueError(
                f"layer name {GLOBAL!r} is reserved for sites outside every layer; "
                "choose another name"
            )
        super().__init__()
        self.name = name
        self.cut_inputs = cut_inputs

    def cut(self, value):
        """Detaches the tensors in ``value``: see :func:`cut`."""
        return cut(value)

    def __call__(self, fn):
        if not callable(fn):
            raise TypeError(f"layer({self.name!r}) decorates a callable, got {fn!r}")

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            if self.cut_inputs:
                args, kwargs = cut(args), cut(kwargs)
            with self:
                return fn(*args, **kwargs)

        return wrapped

    def _process_message(self, msg) -> None:
        if msg["type"] in ("sample", "param") and "layer" not in msg["infer"]:
            # Copy rather than mutate: the infer dict may be a user's shared literal.
            msg["infer"] = {**msg["infer"], "layer": self.name}


def layer(name: str, fn=None, *, cut_inputs: bool = True):
    """
    Handler that assigns every ``sample`` and ``param`` site of ``fn`` (or of the
    ``with`` block) to the layer ``name``, by writing ``site["infer"]["layer"] = name``.
    The innermost handler wins, so a network can label its blocks and a block its
    sub-layers.

    :class:`~pyro_local.infer.LocalELBO` groups sites by this label into one ELBO
    term per layer; sites outside every layer form the ``"global"`` term.

    Used as a decorator, the handler also cuts its inputs: every tensor argument
    is detached before the wrapped function runs, so no gradient flows from this
    layer into whatever computed its inputs. Used as a context manager it cannot see
    the inputs; cut them explicitly with its ``cut`` method (:func:`cut`)::

        with layer("block2") as block2:
            h = block2.cut(h)          # stop-gradient at the layer boundary
            h = pyro.sample("h2", dist.Normal(f(h), 1.0).to_event(1))

    :param str name: the layer's name (not ``"global"``, which is reserved).
    :param callable fn: a stochastic function; if omitted, returns the messenger, for
        use as a context manager or decorator.
    :param bool cut_inputs: whether the decorator form detaches tensor arguments
        (default ``True``). Pass ``False`` to label sites without cutting, e.g. to
        report per-layer ELBO terms of a jointly trained model.
    """
    messenger = LayerMessenger(name, cut_inputs=cut_inputs)
    return messenger if fn is None else messenger(fn)
