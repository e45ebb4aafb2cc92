"""Errors raised by the inference engine."""

from __future__ import annotations

import torch


class NonFiniteLossError(FloatingPointError):
    """
    A layer's loss is NaN or infinite. Names the layer, and the sites whose terms
    are not finite (with the kind of term: observed log-likelihood, closed-form KL,
    Monte Carlo log p - log q, or score function).

    :param str layer: the layer whose loss is not finite.
    :param float value: that loss.
    :param list sites: ``(site, kind, value)`` for each non-finite site term.
    :param str note: optional context, appended in parentheses (e.g. the first line
        of the validation error that stopped the run).
    """

    def __init__(
        self, layer: str, value: float, sites: list[tuple[str, str, float]], note=None
    ):
        self.layer = layer
        self.value = value
        self.sites = sites
        if sites:
            where = "; ".join(f"site {s!r} ({kind} term = {v})" for s, kind, v in sites)
        else:
            where = "no single site term is non-finite: their sum overflowed"
        message = f"loss of layer {layer!r} is {value}: {where}"
        super().__init__(message if note is None else f"{message} ({note})")


class NonFiniteParameterError(FloatingPointError):
    """
    A layer's parameters hold NaN or infinite values after its update (a learning
    rate too large, an overflow in the optimizer): raised before anything is saved,
    so the last checkpoint keeps the last finite state.

    :param str layer: the layer whose update produced them.
    :param list names: the parameters that are not finite.
    :param int step: the step of the update.
    """

    def __init__(self, layer: str, names: list[str], step: int):
        self.layer = layer
        self.names = names
        self.step = step
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        super().__init__(
            f"the update of layer {layer!r} at step {step} made its parameters non-finite "
            f"({shown}); lower the learning rate, or clip gradients (clip_norm)"
        )


def check_finite_parameters(layers: dict, step: int) -> None:
    """
    Raises :class:`NonFiniteParameterError` for the first layer whose parameters hold
    NaN or infinite values; one device synchronisation for all of them.

    :param dict layers: ``{layer: {name: parameter}}``.
    :param int step: the step that produced them (for the message).
    """
    entries = [(layer, name, p) for layer, named in layers.items()
               for name, p in named.items() if p.is_floating_point() or p.is_complex()]
    if not entries:
        return
    with torch.no_grad():
        # Fast path: a sum is NaN or infinite whenever a term is; only then look at
        # each tensor (a sum can also overflow, with every term finite).
        sums = [(torch.view_as_real(p) if p.is_complex() else p).sum(dtype=torch.float64)
                for _, _, p in entries]
        if len({s.device for s in sums}) > 1:
            sums = [s.cpu() for s in sums]
        if bool(torch.isfinite(torch.stack(sums).sum())):
            return
        bad = [(layer, name) for layer, name, p in entries if not bool(torch.isfinite(p).all())]
    if bad:
        layer = bad[0][0]
        raise NonFiniteParameterError(layer, [n for l, n in bad if l == layer], step)
