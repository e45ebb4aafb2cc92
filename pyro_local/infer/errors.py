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
    """

    def __init__(self, layer: str, value: float, sites: list[tuple[str, str, float]]):
        self.layer = layer
        self.value = value
        self.sites = sites
        if sites:
            where = "; ".join(f"site {s!r} ({kind} term = {v})" for s, kind, v in sites)
        else:
            where = "no single site term is non-finite: their sum overflowed"
        super().__init__(f"loss of layer {layer!r} is {value}: {where}")
