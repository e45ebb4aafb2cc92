"""Running PyroModules with module-local parameters, whatever the global setting."""

from __future__ import annotations

import contextlib

import pyro
import torch
from pyro.nn import PyroModule


def give_local_param_state(*objs) -> None:
    """
    Gives every PyroModule among ``objs`` (and their submodules) that was built with
    Pyro's ``module_local_params`` setting off the empty local parameter state that
    the setting expects, so it can be called with the setting on. Pyro decides a
    PyroModule's parameter mode when the module is built; after this, the module
    works as before under either setting.
    """
    for obj in objs:
        if isinstance(obj, torch.nn.Module):
            for m in obj.modules():
                if isinstance(m, PyroModule):
                    context = m.__dict__["_pyro_context"]
                    if not hasattr(context, "param_state"):
                        context.param_state = {"params": {}, "constraints": {}}


@contextlib.contextmanager
def module_local_params(*objs, prepare=True):
    """
    Runs the body with Pyro's ``module_local_params`` setting on, so that every
    PyroModule among ``objs`` keeps its parameters to itself instead of sharing them
    by name through Pyro's global param store.

    :param bool prepare: first call :func:`give_local_param_state` on ``objs``
        (needed once per module; callers that did it already pass ``False``).
    """
    if prepare:
        give_local_param_state(*objs)
    with pyro.settings.context(module_local_params=True):
        yield
