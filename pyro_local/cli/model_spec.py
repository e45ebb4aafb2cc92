"""Your own model on the command line: ``--model package.module:factory``.

A *factory* is a function that builds a model and loads the data it trains on, and
returns them as a :class:`ModelSpec`::

    # mypackage/models.py
    import torch
    from pyro_local.cli import ModelSpec
    from pyro_local.data import load

    def regression(*, device, seed, hidden=(50,), noise=0.1):
        torch.manual_seed(seed)
        model = MyBayesianNet(hidden, noise).to(device)     # a Pyro model (PyroModule)
        guide = MyGuide(model).to(device)
        x, y = my_tensors(device)
        return ModelSpec(model, guide, train=(x, y), test=(x_test, y_test))

    $ pyro-local train --model mypackage.models:regression --hidden 100 \\
          --option noise=0.2 --epochs 20 --out runs/reg
    $ pyro-local evaluate --run runs/reg
    $ pyro-local report --run runs/reg

The factory is called with keyword arguments only, and only those it names (or all,
if it takes ``**kwargs``) among

- ``data`` (``--data``, a name the factory interprets), ``device`` (a
  ``torch.device``), ``seed``, ``hidden``, ``latent_dims``, ``structure``,
  ``training``, ``rule`` (the flags of the same names; ``hidden`` and ``latent_dims``
  only when given, so that the factory's own default applies otherwise), and
- every ``--option NAME=VALUE`` (the value read as JSON when it parses, else as a
  string).

A flag given on the command line that the factory does not name is refused, so a
misspelt or meaningless flag never passes silently. The run folder records the
factory's path and arguments; ``evaluate``, ``report`` and ``--resume`` call it
again to rebuild the model before loading the checkpoint, so it must build the same
model from the same arguments and be importable wherever they run.

The engine is :class:`~pyro_local.infer.LocalSVI`, built from the spec with
``--lr`` and ``--mode``; batches are drawn from ``train`` by
:class:`~pyro_local.data.TensorLoader` (``--batch-size``, ``--seed``) and passed to
the model and guide as positional arguments.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .errors import UsageError

#: Keyword arguments a factory may name, by the RunConfig field they come from.
FACTORY_ARGUMENTS = {"data": "dataset", "device": "device", "seed": "seed",
                     "hidden": "hidden", "latent_dims": "latent_dims",
                     "structure": "structure", "training": "training", "rule": "rule"}


@dataclass
class ModelSpec:
    """
    What a factory returns: the model, its guide, its data, and how to train and
    evaluate it. Only ``model`` and ``train`` are required.

    :param model: a Pyro model whose layers are marked with
        :func:`pyro_local.poutine.layer` (or not: then it is one layer), or a
        :class:`~pyro_local.nn.LocalNet`.
    :param guide: its guide (``None`` for a ``LocalNet``, or a model without latents
        to guide).
    :param tuple train: the training data: tensors sharing their first dimension
        (the examples); each batch of them is passed to model and guide as positional
        arguments.
    :param test: the held-out data, the same way; or a function returning it (called
        only by ``evaluate`` and ``report``); or ``None``.
    :param callable transform: applied to the first tensor of every training batch,
        ``transform(x, generator)`` (e.g. :func:`~pyro_local.data.binarize_dynamic`).
    :param loss: the objective (default :class:`~pyro_local.infer.LocalELBO`).
    :param optim: a ``torch.optim.Optimizer`` class (default Adam).
    :param dict optim_args: its arguments; an ``lr`` here is the model's default
        learning rate, which ``--lr`` overrides.
    :param bool strict: reject gradients that cross layer boundaries (see
        :class:`~pyro_local.infer.LocalSVI`).
    :param callable train_context: ``() -> context manager`` around training steps.
    :param callable evaluate: ``(test, num_samples) -> {metric: value}`` on the
        trained model; default: the engine's per-layer loss on the test data.
    :param callable report: ``(train, test, num_samples) -> dict`` of further
        keyword arguments of :func:`pyro_local.diagnostics.build_report` (e.g.
        ``{"extra_sections": [...]}``); they are not kept in ``inference_data.nc``.
        The report already shows the test metrics of ``evaluate`` and, from the
        guide's draws, k-hat, LOO, predictive checks, weight posteriors and the
        sparsity of rectified latents.
    :param list obs_sites: the observed sites whose pointwise log-likelihood the
        report uses (default: all observed sites).
    :param bool vectorized: model and guide broadcast over a leading sample
        dimension (a plate left of their own), so the report draws many at once.
    """

    model: Callable
    guide: Callable | None = None
    train: tuple = ()
    test: tuple | Callable | None = None
    transform: Callable | None = None
    loss: object = None
    optim: type = torch.optim.Adam
    optim_args: dict = field(default_factory=dict)
    strict: bool = True
    train_context: Callable = contextlib.nullcontext
    evaluate: Callable | None = None
    report: Callable | None = None
    obs_sites: list | None = None
    vectorized: bool = False

    def check(self, source: str) -> ModelSpec:
        """Checks the spec's types; ``source`` names the factory in messages."""
        if not callable(self.model):
            raise UsageError(f"{source}: ModelSpec.model must be callable, got {self.model!r:.60}")
        train = self.train
        if not isinstance(train, (tuple, list)) or not train or not all(
            isinstance(t, torch.Tensor) and t.dim() > 0 for t in train
        ):
            raise UsageError(f"{source}: ModelSpec.train must be a tuple of tensors sharing "
                             "their first dimension")
        self.train = tuple(train)
        return self


def parse_option(text: str) -> tuple[str, object]:
    """``NAME=VALUE`` -> ``(name, value)``, the value read as JSON when it parses."""
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise UsageError(f"--option: expected NAME=VALUE with a Python name, got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def is_factory_path(name: str) -> bool:
    return ":" in name


def load_factory(path: str) -> Callable:
    """Imports ``package.module:function``."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise UsageError(f"--model: expected package.module:function, got {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise UsageError(f"--model {path}: cannot import {module_name!r} ({e})") from None
    fn = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            raise UsageError(f"--model {path}: {module_name} has no {attr!r}")
    if not callable(fn):
        raise UsageError(f"--model {path}: {attr!r} is not callable")
    return fn


def factory_fields(fn: Callable) -> set[str] | None:
    """The RunConfig fields a factory takes (``None``: any, it has ``**kwargs``)."""
    params = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None
    return {FACTORY_ARGUMENTS[n] for n in params if n in FACTORY_ARGUMENTS}


def check_options(fn: Callable, options: dict, source: str) -> None:
    """Refuses ``--option`` names the factory does not take, or that have flags."""
    params = inspect.signature(fn).parameters
    takes_all = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for name in options:
        if name in FACTORY_ARGUMENTS:
            from .config import flag

            raise UsageError(f"--option {name}: use {flag(FACTORY_ARGUMENTS[name])}")
        if not takes_all and name not in params:
            raise UsageError(f"--option {name}: {source} takes no argument of that name")


def call_factory(fn: Callable, cfg, device: torch.device, source: str) -> ModelSpec:
    """Calls ``fn`` with the arguments it names (see the module docstring)."""
    check_options(fn, cfg.options, source)
    params = inspect.signature(fn).parameters
    takes_all = any(p.kind is p.VAR_KEYWORD for p in params.values())
    values = {name: getattr(cfg, f) for name, f in FACTORY_ARGUMENTS.items()}
    values["device"] = device
    for name in ("hidden", "latent_dims"):  # not given: the factory's own default
        if values[name] is None and (
            name not in params or params[name].default is not inspect.Parameter.empty
        ):
            del values[name]
    kwargs = {k: v for k, v in values.items() if takes_all or k in params}
    spec = fn(**kwargs, **cfg.options)
    if not isinstance(spec, ModelSpec):
        raise UsageError(f"{source}: a factory must return a pyro_local.cli.ModelSpec, "
                         f"got {type(spec).__name__}")
    return spec.check(source)
