"""Did each layer's optimisation converge? A trend test over the last steps of its loss.

Over the last ``fraction`` of the steps (at least :data:`MIN_WINDOW`), a least-squares
line is fitted to the layer's loss (its negative local ELBO). Its change across the
window is compared with the layer's whole decrease in training (the mean loss of the
first window minus that of the last): the share of the decrease still being made at the
end, free of the arbitrary level of the loss (a KL or a data-set-sized likelihood).
Its ratio to its own standard error says whether that movement stands out of the
minibatch noise. A layer has converged when the share is below ``tolerance``; its
change is within the noise when it is larger but not significant (|z| < 2); otherwise
it is still improving (falling loss) or rising.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = ["LayerConvergence", "convergence"]

#: Fewest steps in the window of the trend test.
MIN_WINDOW = 10


class LayerConvergence(NamedTuple):
    """The trend of one layer's loss at the end of training.

    :ivar str layer: the layer.
    :ivar int steps: steps recorded.
    :ivar int window: steps in the trend test.
    :ivar float relative_change: fitted change of the loss across the window divided by
        the layer's whole decrease in training (negative: falling; the mean absolute loss
        stands in when the loss did not decrease); ``NaN`` with too few steps.
    :ivar float z: that change over its standard error.
    :ivar str state: ``"converged"``, ``"within noise"``, ``"improving"``, ``"rising"`` or
        ``"too few steps"``.
    """

    layer: str
    steps: int
    window: int
    relative_change: float
    z: float
    state: str


def _trend(values):
    x = np.arange(values.size, dtype=np.float64)
    x -= x.mean()
    slope = float(np.dot(x, values - values.mean()) / np.dot(x, x))
    residual = values - values.mean() - slope * x
    dof = max(values.size - 2, 1)
    se = math.sqrt(float(np.dot(residual, residual)) / dof / float(np.dot(x, x)))
    return slope * (values.size - 1), se * (values.size - 1)


def convergence(history, fraction=0.1, tolerance=0.01):
    """The convergence of every layer in ``history``.

    :param dict history: layer -> loss per step (NaN entries are dropped).
    :param float fraction: share of the last steps in the trend test.
    :param float tolerance: relative change below which a layer counts as converged.
    :rtype: list[LayerConvergence]
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction: expected a number in (0, 1], got {fraction!r}")
    out = []
    for layer, losses in history.items():
        values = np.asarray(losses, dtype=np.float64)
        values = values[np.isfinite(values)]
        window = max(math.ceil(fraction * values.size), MIN_WINDOW)
        if values.size < 2 * MIN_WINDOW:
            out.append(LayerConvergence(str(layer), values.size, 0, math.nan, math.nan,
                                        "too few steps"))
            continue
        tail = values[-window:]
        change, se = _trend(tail)
        drop = float(np.mean(values[:window]) - np.mean(tail))
        scale = drop if drop > 0 else float(np.mean(np.abs(tail)))
        scale = max(scale, np.finfo(float).tiny)
        relative = change / scale
        z = change / se if se > 0 else math.copysign(math.inf, change) if change else 0.0
        if abs(relative) < tolerance:
            state = "converged"
        elif abs(z) < 2:
            state = "within noise"
        else:
            state = "improving" if change < 0 else "rising"
        out.append(LayerConvergence(str(layer), values.size, window, relative, z, state))
    return out
