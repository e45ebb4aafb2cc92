"""Running PyroModules with module-local parameters, whatever the global setting."""

from __future__ import annotations

import contextlib

import pyro
import torch
from pyro.nn import PyroModule


@contextlib.contextmanager
def module_local_params(*objs):
    """
    Runs the body with Pyro's ``module_local_params`` setting on, so that every
    PyroModule among ``objs`` (and their submodules) keeps its parameters to itself
    instead of sharing them by name through Pyro's global param store.

    Pyro decides a PyroModule's parameter mode when the module is built; a module
    built with the setting off cannot otherwise be called with it on. This gives such
    modules the empty local parameter state that the setting expects (once; the
    module works as before under either setting afterwards).
    """
    for obj in objs:
        if isinstance(obj, torch.nn.Module):
            for m in obj.modules():
                if isinstance(m, PyroModule):
                    context = m.__dict__["_pyro_context"]
                    if not hasattr(context, "param_state"):
                        context.param_state = {"params": {}, "constraints": {}}
    with pyro.settings.context(module_local_params=True):
        yield
