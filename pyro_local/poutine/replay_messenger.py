"""Pyro's ``replay`` handler, keeping the layer labels the model wrote."""

from __future__ import annotations

from pyro.poutine.replay_messenger import ReplayMessenger


class LayerReplayMessenger(ReplayMessenger):
    """
    Pyro's :class:`~pyro.poutine.replay_messenger.ReplayMessenger`, except that a
    replayed site keeps the layer the model assigned it: Pyro's replay replaces the
    model site's ``infer`` dict with the guide's, and guides (autoguides in
    particular) run outside the model's layers.

    :param pyro.poutine.Trace trace: the trace (usually the guide's) to replay.
    """

    def _pyro_sample(self, msg):
        model_layer = msg["infer"].get("layer")
        super()._pyro_sample(msg)
        if model_layer is not None and msg["infer"].get("layer") != model_layer:
            msg["infer"] = {**msg["infer"], "layer": model_layer}


def replay(fn, trace):
    """
    Like :func:`pyro.poutine.replay`, except that a replayed site keeps the layer the
    model assigned it (Pyro's replay replaces the model site's ``infer`` dict with the
    guide's, and guides, autoguides in particular, run outside the model's layers):
    replay a model against a guide trace with this handler to see which layer each of
    the guide's latents belongs to.

    :param callable fn: a stochastic function, usually the model.
    :param pyro.poutine.Trace trace: the trace to replay, usually the guide's.
    :returns: ``fn`` wrapped in the handler.
    """
    return LayerReplayMessenger(trace=trace)(fn)
