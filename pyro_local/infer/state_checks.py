"""Checks that a saved engine state fits an engine, made before anything is loaded.

Loading a checkpoint into :class:`~pyro_local.infer.LocalSVI` is all or nothing:
torch's ``Module.load_state_dict`` copies every matching tensor before it reports a
mismatched one, and one optimizer after another may load before a later one fails,
so every part is checked here first, and only then is anything written.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch


def _mismatch(what: str, saved, here) -> ValueError:
    return ValueError(
        f"the checkpoint does not fit this engine: {what} differ (saved {saved}, here {here})"
    )


def _check_tensors(what: str, saved, here: Mapping[str, torch.Tensor]) -> None:
    if not isinstance(saved, Mapping) or set(saved) != set(here):
        saved_keys = sorted(saved) if isinstance(saved, Mapping) else type(saved).__name__
        raise _mismatch(f"the {what} entries", saved_keys, sorted(here))
    for key, tensor in here.items():
        value = saved[key]
        if not isinstance(value, torch.Tensor) or value.shape != tensor.shape:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise _mismatch(f"the shapes of {what} entry {key!r}", shape, tuple(tensor.shape))


def _check_optimizer(layer: str, saved, optimizer: torch.optim.Optimizer) -> None:
    here = optimizer.state_dict()
    if not isinstance(saved, Mapping) or set(saved) != set(here):
        raise _mismatch(f"the optimizer state keys of layer {layer!r}", saved, list(here))
    groups = [len(g["params"]) for g in here["param_groups"]]
    saved_groups = [len(g.get("params", ())) for g in saved["param_groups"]]
    if saved_groups != groups:
        raise _mismatch(f"the optimizer parameter groups of layer {layer!r}", saved_groups, groups)
    options = [sorted(g) for g in here["param_groups"]]
    saved_options = [sorted(g) for g in saved["param_groups"]]
    if saved_options != options:  # another optimizer class
        raise _mismatch(f"the optimizer options of layer {layer!r}", saved_options[0], options[0])
    params = [p for g in optimizer.param_groups for p in g["params"]]
    for index, entry in saved["state"].items():
        if not isinstance(index, int) or not 0 <= index < len(params):
            raise _mismatch(f"the optimizer state of layer {layer!r}", index, len(params))
        for key, value in entry.items():
            if isinstance(value, torch.Tensor) and value.dim() > 0:
                if value.shape != params[index].shape:
                    raise _mismatch(
                        f"the shapes of optimizer state {key!r} of layer {layer!r}",
                        tuple(value.shape),
                        tuple(params[index].shape),
                    )


def check_engine_state(state, *, layer_params, modules, store_params, optimizers) -> None:
    """
    Raises ``ValueError`` naming the first part of a saved engine ``state`` that
    does not fit the engine described by the keyword arguments; returns if it fits.

    :param dict layer_params: ``{layer: [parameter names]}``.
    :param dict modules: ``{key: torch.nn.Module}``, checked against ``state["modules"]``.
    :param dict store_params: ``{name: tensor}`` of ``pyro.param`` parameters.
    :param dict optimizers: ``{layer: torch.optim.Optimizer}``.
    """
    required = ("layer_params", "modules", "optimizers", "history", "step", "rng")
    missing = [k for k in required if k not in state]
    if missing:
        raise ValueError(f"the checkpoint lacks {missing}: it is not a LocalSVI checkpoint")
    if state["layer_params"] != layer_params:
        raise ValueError(
            "the checkpoint's layers and parameters differ from this engine's: "
            f"saved {list(state['layer_params'])}, here {list(layer_params)}"
        )
    saved_modules = state["modules"]
    if not isinstance(saved_modules, Mapping) or set(saved_modules) != set(modules):
        raise _mismatch("the modules", list(saved_modules), list(modules))
    for key, module in modules.items():
        _check_tensors(f"module {key!r}", saved_modules[key], module.state_dict())
    _check_tensors("param store", state.get("param_store", {}), store_params)
    if not isinstance(state["optimizers"], Mapping) or set(state["optimizers"]) != set(optimizers):
        raise _mismatch("the optimized layers", list(state["optimizers"]), list(optimizers))
    for layer, optimizer in optimizers.items():
        _check_optimizer(layer, state["optimizers"][layer], optimizer)
    history = state["history"]
    if not isinstance(history, Mapping) or not all(isinstance(v, list) for v in history.values()):
        raise ValueError("the checkpoint's history is not {layer: [loss, ...]}")
    if not isinstance(state["step"], int):
        raise ValueError(f"the checkpoint's step count is not an int: {state['step']!r}")
