"""The engine's records: its state (and that state's checkpoint form), and what a step did."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch

#: The checkpoint format :meth:`LocalSVIState.to_dict` writes. Format 1 (before the
#: engine owned its random-number stream) saved the process-wide random states; it
#: still loads, its torch states becoming the engine's stream.
CHECKPOINT_FORMAT = 2
READABLE_FORMATS = (1, 2)


class LocalSVIState(NamedTuple):
    """
    Everything a :class:`~pyro_local.infer.LocalSVI` run needs to continue exactly
    where it is, in the manner of NumPyro's ``SVIState``. :attr:`LocalSVI.state
    <pyro_local.infer.LocalSVI.state>` returns it; its tensors are the engine's own
    (as in :meth:`torch.nn.Module.state_dict`), not copies.

    :param int step: the number of steps taken.
    :param str mode: ``"fused"`` or ``"sequential"``.
    :param dict layer_params: ``{layer: [parameter names]}``: which layer owns what.
    :param dict modules: ``{key: module state dict}`` for the modules the engine owns.
    :param dict param_store: ``{name: tensor}`` of the parameters ``pyro.param`` made.
    :param dict optimizers: ``{layer: optimizer state dict}``.
    :param dict history: ``{layer: [loss per step]}``.
    :param dict rng: the engine's random-number stream
        (``EngineRNG.state_dict()`` of ``pyro_local.infer.engine_rng``).
    """

    step: int
    mode: str
    layer_params: dict[str, list[str]]
    modules: dict[str, dict[str, torch.Tensor]]
    param_store: dict[str, torch.Tensor]
    optimizers: dict[str, dict]
    history: dict[str, list[float]]
    rng: dict

    def to_dict(self) -> dict:
        """The record as plain containers and tensors, with its ``"format"``."""
        return {"format": CHECKPOINT_FORMAT, **self._asdict()}

    @classmethod
    def from_dict(cls, state) -> LocalSVIState:
        """
        The record of a :meth:`to_dict` (or of a format-1 checkpoint).

        :raises ValueError: when ``state`` is of an unknown format or lacks a part.
        """
        if not isinstance(state, Mapping) or state.get("format") not in READABLE_FORMATS:
            found = state.get("format") if isinstance(state, Mapping) else type(state).__name__
            raise ValueError(f"unknown checkpoint format {found!r}")
        missing = [k for k in cls._fields if k not in state]
        if missing:
            raise ValueError(f"the checkpoint lacks {missing}: it is not a LocalSVI checkpoint")
        return cls(**{k: state[k] for k in cls._fields})


class StepInfo(NamedTuple):
    """
    What one :meth:`~pyro_local.infer.LocalSVI.step` did.

    :param int step: the number of steps taken so far, this one included.
    :param float loss: the sum of the layer losses (minus the whole ELBO).
    :param dict layer_losses: ``{layer: loss}``, each minus that layer's ELBO.
    :param dict grad_norms: ``{layer: norm}``, the L2 norm of the gradient of all of
        the layer's parameters before its update (before clipping, after averaging
        over processes), for the layers that were updated; empty from
        :meth:`~pyro_local.infer.LocalSVI.evaluate`.
    """

    step: int
    loss: float
    layer_losses: dict[str, float]
    grad_norms: dict[str, float]
