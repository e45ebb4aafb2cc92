"""Errors raised by the inference engine."""

from __future__ import annotations


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
