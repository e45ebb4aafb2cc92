"""Parameter averaging: an exponential moving average of a model's parameters.

Louizos & Welling 2016 (official code) evaluate their networks with an exponential
moving average (decay 0.999) of the variational parameters, which removes most of
the noise that Adam's steps leave in the final iterate. :class:`ParameterEMA` keeps
that average beside any set of parameters, swaps it in for evaluation, and saves and
restores it with a checkpoint.
"""

from __future__ import annotations

import contextlib

import torch


class ParameterEMA:
    """
    ``shadow <- d shadow + (1 - d) param`` after every step, with the warm-up
    ``d = min(decay, (1 + t) / (10 + t))`` at step ``t`` (as TensorFlow's
    ``ExponentialMovingAverage`` with ``num_updates``), so that a short run averages
    its recent steps rather than its initial values.

    Example::

        ema = ParameterEMA(list(model.parameters()) + list(guide.parameters()))
        for x, y in batches:
            svi.step(x, y)
            ema.update()
        with ema.swapped():
            evaluate(model, guide)

    :param params: the parameters (tensors that are updated in place).
    :param float decay: the decay ``d``, in ``[0, 1)``.
    """

    def __init__(self, params, decay: float = 0.999):
        if isinstance(decay, bool) or not 0 <= decay < 1:
            raise ValueError(f"decay: expected a float in [0, 1), got {decay!r}")
        self.params = list({id(p): p for p in params}.values())
        self.decay = float(decay)
        self.steps = 0
        self.shadow = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self):
        """Moves the average towards the current parameters."""
        self.steps += 1
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1 - decay)

    @torch.no_grad()
    def copy_to(self):
        """Replaces the parameters by their averages (for evaluation only: training
        on from there changes the optimizer's trajectory)."""
        torch._foreach_copy_([p.data for p in self.params], self.shadow)

    @contextlib.contextmanager
    def swapped(self):
        """The parameters replaced by their averages inside the block, restored after."""
        with torch.no_grad():
            current = [p.detach().clone() for p in self.params]
        self.copy_to()
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_([p.data for p in self.params], current)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "steps": self.steps, "shadow": list(self.shadow)}

    def check_state_dict(self, state: dict) -> None:
        """Raises ``ValueError`` if ``state`` is not an average of these parameters (so
        that a caller can check it before loading anything)."""
        shadow = state.get("shadow") if isinstance(state, dict) else None
        if not isinstance(shadow, list) or len(shadow) != len(self.params) or any(
            not isinstance(s, torch.Tensor) or s.shape != p.shape
            for s, p in zip(shadow, self.params)
        ):
            saved = len(shadow) if isinstance(shadow, list) else type(shadow).__name__
            raise ValueError(
                "the saved average does not match these parameters: "
                f"{saved} saved tensors, {len(self.params)} parameters here"
            )

    def load_state_dict(self, state: dict) -> None:
        self.check_state_dict(state)
        shadow = state["shadow"]
        self.decay, self.steps = float(state["decay"]), int(state["steps"])
        with torch.no_grad():
            for s, saved in zip(self.shadow, shadow):
                s.copy_(saved)
