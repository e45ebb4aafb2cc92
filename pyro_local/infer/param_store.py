"""The engine's own parameter store, in place of Pyro's global one while it runs.

Under Pyro's SVI every ``pyro.param`` statement, ``pyro.module`` registration and
PyroModule parameter is named in one process-wide store: two models that use a name
share the parameter, and a run finds what an earlier run left there.
:class:`~pyro_local.infer.LocalSVI` keeps Pyro's semantics inside one engine (the
model, the guide and everything they call, autoguides tracing the model included)
but gives every engine a store of its own, swapped in for Pyro's while the engine
runs (``ParamStoreDict.scope``). Its parameters therefore start from their initial
values whatever the global store holds, belong to the engine's state and
checkpoints, and are published to the global store under their names after the
first step, so that ``pyro.param(name)``, ``Predictive`` and
``pyro.get_param_store()`` see the trained values, as after Pyro's SVI.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import pyro
import torch
from pyro.poutine.messenger import Messenger

#: Prefix of the engine's names for parameters that ``pyro.param`` created.
PARAM_STORE = "param_store"


class EngineParamStore:
    """
    The state of a Pyro param store (``{"params": ..., "constraints": ...}``,
    unconstrained tensors by name) that one engine owns.
    """

    def __init__(self):
        self.state = {"params": {}, "constraints": {}}

    @contextlib.contextmanager
    def active(self):
        """Makes this store Pyro's param store for the body of the ``with``."""
        with pyro.get_param_store().scope(state=self.state):
            yield

    def publish(self) -> None:
        """Puts these parameters into Pyro's global param store, by name."""
        if self.state["params"]:
            pyro.get_param_store().set_state(self.state)

    def name_of(self, tensor: torch.Tensor) -> str | None:
        """The name under which ``tensor`` is stored, or ``None``."""
        for name, value in self.state["params"].items():
            if value is tensor:
                return name
        return None


class ParamRecorder(Messenger):
    """
    Records the leaf tensor behind every ``param`` site, and the sites where a
    ``pyro.module`` or ``pyro.param`` statement gave an ``nn.Parameter`` but the
    store answered with another tensor registered under the same name.
    """

    def __init__(self):
        super().__init__()
        self.leaves: dict[str, torch.Tensor] = {}
        self.shadowed: list[str] = []

    def _postprocess_message(self, msg):
        if msg["type"] != "param":
            return
        value = msg["value"]
        unconstrained = getattr(value, "unconstrained", None)
        leaf = unconstrained() if callable(unconstrained) else value
        self.leaves[msg["name"]] = leaf
        init = msg["args"][1] if len(msg["args"]) > 1 else None
        if isinstance(init, torch.nn.Parameter) and leaf is not init:
            self.shadowed.append(msg["name"])


def store_parameters(
    recorder: ParamRecorder, store: EngineParamStore, owned: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """
    The parameters that ``pyro.param`` statements created in ``store`` and no
    module in ``owned`` holds, named ``"param_store.<name>"``.

    :raises ValueError: where one name was given to two different parameters.
    :raises TypeError: for a ``param`` site whose tensor neither a module nor the
        store owns.
    """
    if recorder.shadowed:
        raise ValueError(
            f"pyro.module / pyro.param names {recorder.shadowed} are each given to two "
            "different parameters in one run: give every module its own name"
        )
    ids = {id(p) for p in owned.values()}
    out, stray = {}, []
    for site, leaf in recorder.leaves.items():
        if not leaf.requires_grad or id(leaf) in ids:
            continue
        name = store.name_of(leaf)
        if name is None:
            stray.append(site)
        else:
            out[f"{PARAM_STORE}.{name}"] = leaf
            ids.add(id(leaf))
    if stray:
        raise TypeError(
            f"param sites {stray} hold tensors that neither the model's or guide's "
            "modules nor their pyro.param statements own, so LocalSVI cannot train them"
        )
    return out
