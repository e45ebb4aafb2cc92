"""The local SVI engine: each layer's ELBO steps that layer's parameters only."""

from __future__ import annotations

import enum
import inspect
import math
from collections.abc import Mapping
from typing import NamedTuple

import torch
from pyro.poutine.messenger import Messenger

from . import checkpoint as ckpt
from . import distributed as ddp
from .errors import check_finite_parameters
from .local_elbo import LocalELBO, check_finite, layer_losses_from_terms
from .local_net import LocalNet
from .module_local import give_local_param_state, module_local_params
from .ownership import (
    assign_parameters,
    check_params_owned,
    named_module_parameters,
)

CHECKPOINT_FORMAT = 1


class Mode(str, enum.Enum):
    """How :class:`LocalSVI` steps: the mathematics of both is the same."""

    #: one forward pass, the per-layer losses summed, one backward, every layer steps.
    FUSED = "fused"
    #: per layer: forward, loss, backward, step; the layer's graph is freed before the
    #: next layer runs, so peak activation memory is that of one layer.
    SEQUENTIAL = "sequential"


class StepInfo(NamedTuple):
    """
    What one :meth:`LocalSVI.step` did.

    :param int step: the number of steps taken so far, this one included.
    :param float loss: the sum of the layer losses (minus the whole ELBO).
    :param dict layer_losses: ``{layer: loss}``, each minus that layer's ELBO.
    """

    step: int
    loss: float
    layer_losses: dict[str, float]


class _ParamRecorder(Messenger):
    """Records the leaf tensor behind every ``param`` site (checked for ownership)."""

    def __init__(self):
        super().__init__()
        self.leaves: dict[str, torch.Tensor] = {}

    def _postprocess_message(self, msg):
        if msg["type"] == "param":
            value = msg["value"]
            unconstrained = getattr(value, "unconstrained", None)
            self.leaves[msg["name"]] = unconstrained() if callable(unconstrained) else value


def _to(value, device):
    if device is None:
        return value
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, (tuple, list)):
        return type(value)(_to(v, device) for v in value)
    if isinstance(value, dict):
        return {k: _to(v, device) for k, v in value.items()}
    return value


def _multi_tensor(optim, params, args) -> dict:
    """
    Asks torch for its multi-tensor optimizer kernels unless the user chose: ``fused``
    where every parameter is on CUDA and the optimizer has it, else ``foreach`` (torch
    picks the slow per-tensor loop on CPU by default).
    """
    if "fused" in args or "foreach" in args:
        return args
    accepted = inspect.signature(optim.__init__).parameters
    on_cuda = all(p.is_cuda for p in params)
    if on_cuda and "fused" in accepted:
        return {**args, "fused": True}
    if "foreach" in accepted:
        return {**args, "foreach": True}
    return args


class LocalSVI:
    """
    Stochastic variational inference where every layer's ELBO updates only that
    layer's parameters, and no gradient crosses a layer boundary.

    The model is either a :class:`~pyro_local.infer.LocalNet` (a sequence of
    per-layer Pyro programs; both modes) or any Pyro model whose layers are marked
    with :func:`pyro_local.poutine.layer`, with its guide (``fused`` mode only).

    The engine owns its state explicitly: the parameters are those of the model's
    and guide's ``torch.nn.Module`` s (Pyro's global param store is not used; sites
    run with ``module_local_params``), and each layer has its own torch optimizer,
    built on the first step, when lazily created parameters (autoguides) exist. Each
    parameter belongs to the layer whose loss reaches it in the autograd graph; a
    parameter reached by two layers' losses is a gradient crossing a boundary and,
    with ``strict=True``, an error.

    :param model: a :class:`LocalNet`, or a Pyro model (callable).
    :param guide: the guide of a plain model (``None`` for a model whose latents are
        all ``guide_is_prior``); must be ``None`` for a :class:`LocalNet`.
    :param LocalELBO loss: the per-layer ELBO (default ``LocalELBO()``).
    :param optim: a ``torch.optim.Optimizer`` class (default ``torch.optim.Adam``).
    :param dict optim_args: its keyword arguments, for every layer.
    :param dict layer_optim_args: ``{layer: {...}}`` overriding ``optim_args`` per
        layer (per-layer learning rates).
    :param mode: ``"fused"`` or ``"sequential"`` (see :class:`Mode`).
    :param dict device_map: ``{layer: device}`` placing layers of a :class:`LocalNet`
        on devices; inputs move to the layer's device at the layer boundary.
    :param bool distributed: combine each layer's gradients over a
        ``torch.distributed`` process group, each process weighted by its share of the
        batch (default: when one with more than one process is running); see
        :mod:`pyro_local.infer.distributed`.
    :param bool strict: reject gradients crossing layer boundaries (default ``True``).
    :param float clip_norm: optional gradient-norm clipping, per layer.

    Example::

        svi = LocalSVI(net, optim_args={"lr": 1e-3}, mode="sequential")
        for x, y in batches:
            info = svi.step(x, y)       # StepInfo(step, loss, layer_losses)
        svi.save("run/checkpoint.pt")   # atomic; resume with svi.load(...)
    """

    def __init__(
        self,
        model,
        guide=None,
        *,
        loss: LocalELBO | None = None,
        optim: type[torch.optim.Optimizer] = torch.optim.Adam,
        optim_args: Mapping | None = None,
        layer_optim_args: Mapping[str, Mapping] | None = None,
        mode: Mode | str = Mode.FUSED,
        device_map: Mapping[str, torch.device | str] | None = None,
        distributed: bool | None = None,
        strict: bool = True,
        clip_norm: float | None = None,
    ):
        if not callable(model):
            raise TypeError(f"model must be a LocalNet or a callable Pyro model, got {model!r}")
        try:
            self.mode = Mode(mode)
        except ValueError:
            raise ValueError(
                f"mode must be one of {[m.value for m in Mode]}, got {mode!r}"
            ) from None
        self.net = model if isinstance(model, LocalNet) else None
        if self.net is not None and guide is not None:
            raise ValueError("a LocalNet holds its layers' guides; pass guide=None")
        if self.net is None and self.mode is Mode.SEQUENTIAL:
            raise ValueError(
                "mode='sequential' needs the model given as a pyro_local.infer.LocalNet "
                "(a sequence of per-layer programs)"
            )
        if self.net is None and device_map:
            raise ValueError("device_map needs the model given as a LocalNet")
        if not (isinstance(optim, type) and issubclass(optim, torch.optim.Optimizer)):
            raise TypeError(f"optim must be a torch.optim.Optimizer class, got {optim!r}")
        if clip_norm is not None and not clip_norm > 0:
            raise ValueError(f"clip_norm must be positive, got {clip_norm!r}")
        self.model = model
        self.guide = guide
        self.loss = loss if loss is not None else LocalELBO()
        self.optim = optim
        self.optim_args = dict(optim_args or {})
        self.layer_optim_args = {k: dict(v) for k, v in (layer_optim_args or {}).items()}
        self.device_map = {k: torch.device(v) for k, v in (device_map or {}).items()}
        self.distributed = ddp.is_distributed() if distributed is None else distributed
        self.strict = strict
        self.clip_norm = clip_norm
        if self.net is not None:
            unknown = set(self.device_map) - set(self.net.names)
            if unknown:
                raise ValueError(f"device_map names unknown layers {sorted(unknown)}")
            for name, device in self.device_map.items():
                for module in (self.net.stage_model(name), self.net.stage_guide(name)):
                    if isinstance(module, torch.nn.Module):
                        module.to(device)
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.layer_params: dict[str, list[str]] = {}
        self.unused_params: list[str] = []
        self.history: dict[str, list[float]] = {}
        self.step_count = 0
        self._params: dict[str, torch.Tensor] = {}
        self._share = None  # this process's share of the batch (distributed)

    # ------------------------------------------------------------------ setup
    @property
    def initialized(self) -> bool:
        return bool(self.layer_params)

    def _modules(self) -> dict:
        if self.net is not None:
            return {"net": self.net}
        return {"model": self.model, "guide": self.guide}

    def init(self, *args, **kwargs) -> None:
        """
        Builds the optimizers without stepping: runs the model once on a batch so that
        lazily created parameters (autoguides') exist, and assigns parameters to
        layers. :meth:`step` calls it on its own; call it yourself before
        :meth:`load_state_dict` on a fresh engine. It leaves no trace: random-number
        states and module buffers (batch-norm statistics) are as before, so a run
        takes the same steps whether or not ``init`` was called first.
        """
        if self.initialized:
            return
        modules = [m for m in self._modules().values() if isinstance(m, torch.nn.Module)]
        buffers = [(b, b.detach().clone()) for m in modules for b in m.buffers()]
        devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
        with torch.random.fork_rng(devices=devices), module_local_params(*modules):
            self._forward(args, kwargs, initializing=True)
        give_local_param_state(*modules)  # modules created lazily in that forward
        with torch.no_grad():
            for buffer, value in buffers:
                buffer.copy_(value)

    def _initialize(self, losses, recorder: _ParamRecorder) -> None:
        self._params = named_module_parameters(self._modules())
        if not self._params:
            raise TypeError(
                "LocalSVI found no parameters: the model and guide must be torch.nn.Modules "
                "(e.g. PyroModules) that own their parameters"
            )
        check_params_owned(recorder.leaves, self._params)
        owned, self.unused_params = assign_parameters(losses, self._params, self.strict)
        unknown = set(self.layer_optim_args) - set(owned)
        if unknown:
            raise ValueError(
                f"layer_optim_args names unknown layers {sorted(unknown)}; layers are "
                f"{list(owned)}"
            )
        self.layer_params = {k: v for k, v in owned.items() if v}
        for layer, names in self.layer_params.items():
            params = [self._params[n] for n in names]
            args = {**self.optim_args, **self.layer_optim_args.get(layer, {})}
            self.optimizers[layer] = self.optim(params, **_multi_tensor(self.optim, params, args))
        for layer in losses:
            self.history.setdefault(layer, [])
        if self.distributed:
            buffers = [b for m in self._modules().values() if isinstance(m, torch.nn.Module)
                       for b in m.buffers()]
            ddp.broadcast_tensors(list(self._params.values()) + buffers)

    # ---------------------------------------------------------------- forward
    def _forward(self, args, kwargs, on_layer=None, initializing=False):
        """
        Runs every layer and returns ``({layer: loss}, {layer: site terms})``; with
        ``on_layer``, calls ``on_layer(layer, loss, terms)`` as each layer finishes
        (sequential mode) and keeps nothing.
        """
        recorder = _ParamRecorder() if initializing else None
        if recorder is not None:
            recorder.__enter__()
        try:
            if self.net is None:
                terms = self.loss.layer_terms(self.model, self.guide, *args, **kwargs)
                losses = layer_losses_from_terms(terms)
            else:
                losses, terms = self._forward_net(args, kwargs, on_layer)
        finally:
            if recorder is not None:
                recorder.__exit__(None, None, None)
        if recorder is not None:
            self._initialize(losses, recorder)
        return losses, terms

    def _forward_net(self, args, kwargs, on_layer):
        if not args:
            raise TypeError("a LocalNet step needs the network's input as first argument")
        num_particles = self.loss.num_particles
        hs = [args[0]] * num_particles
        rest = args[1:]
        losses, all_terms = {}, {}
        for name in self.net.names:
            device = self.device_map.get(name)
            rest_d, kwargs_d = _to(rest, device), _to(kwargs, device)
            outputs, terms = [], []
            for h in hs:
                result = self.net.run_stage(
                    name, _to(h, device), rest_d, kwargs_d, self.loss.closed_form_kl,
                    self.loss.max_plate_nesting,
                )
                outputs.append(result.output)
                terms.extend(
                    t._replace(value=t.value / num_particles) for t in result.terms.get(name, [])
                )
            hs = outputs
            loss = -sum(t.value for t in terms) if terms else torch.zeros((), device=device)
            if on_layer is not None:
                on_layer(name, loss, {name: terms})
            else:
                losses[name], all_terms[name] = loss, terms
        return losses, all_terms

    # ------------------------------------------------------------------- step
    def _values(self, losses: dict[str, torch.Tensor]) -> dict[str, float]:
        """Loss values as floats with one device sync (averaged over processes)."""
        values = [v.detach().float().reshape(()) for v in losses.values()]
        if len({v.device for v in values}) > 1:  # layers on several devices
            values = [v.cpu() for v in values]
        stacked = torch.stack(values)
        if self.distributed:
            stacked = ddp.all_reduce_mean(stacked, self._share)
        return dict(zip(losses, stacked.tolist()))

    def _update(self, layers) -> None:
        updated = [layer for layer in layers if layer in self.optimizers]
        for layer in updated:
            params = [self._params[n] for n in self.layer_params[layer]]
            if self.distributed:
                ddp.all_reduce_gradients(params, self._share)
            if self.clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, self.clip_norm)
            self.optimizers[layer].step()
            self.optimizers[layer].zero_grad(set_to_none=True)
        check_finite_parameters(self._layer_params(updated), self.step_count + 1)

    def _layer_params(self, layers) -> dict:
        return {layer: {n: self._params[n] for n in self.layer_params.get(layer, [])}
                for layer in layers}

    def step(self, *args, **kwargs) -> StepInfo:
        """
        One update of every layer on one batch. For a :class:`LocalNet` the first
        positional argument is the network's input; all arguments go to every layer.

        :returns: a :class:`StepInfo`.
        :raises NonFiniteLossError: when a layer's loss is NaN or infinite (naming
            the layer and the site), before any parameter changes in fused mode and
            before that layer's update in sequential mode.
        :raises NonFiniteParameterError: when a layer's update makes its parameters
            NaN or infinite, naming the layer.
        """
        self.init(*args, **kwargs)
        if self.distributed:
            self._share = ddp.local_share(args, kwargs)
        with module_local_params(prepare=False):
            if self.mode is Mode.FUSED:
                losses, terms = self._forward(args, kwargs)
                values = self._values(losses)
                check_finite(values, terms)
                total = sum(losses.values())
                if torch.is_tensor(total) and total.requires_grad:
                    total.backward()
                self._update(losses)
            else:
                values = {}

                def on_layer(name, loss, terms):
                    value = self._values({name: loss})
                    check_finite(value, terms)
                    if loss.requires_grad:
                        loss.backward()
                    self._update([name])
                    values.update(value)

                self._forward(args, kwargs, on_layer=on_layer)
        self.step_count += 1
        for layer, value in values.items():
            self.history.setdefault(layer, []).append(value)
        return StepInfo(self.step_count, math.fsum(values.values()), values)

    def layer_losses(self, *args, **kwargs) -> dict[str, torch.Tensor]:
        """
        The differentiable loss of every layer on a batch, without stepping (for
        custom loops and checks); initializes the engine if needed.
        """
        self.init(*args, **kwargs)
        with module_local_params(prepare=False):
            losses, _ = self._forward(args, kwargs)
        return losses

    def evaluate(self, *args, **kwargs) -> StepInfo:
        """The per-layer losses on a batch, without gradients or updates."""
        if self.distributed:
            self._share = ddp.local_share(args, kwargs)
        with torch.no_grad(), module_local_params(prepare=False):
            losses, terms = self._forward(args, kwargs) if self.initialized else (None, None)
            if losses is None:
                raise RuntimeError("evaluate() needs an initialized engine: call init() or step()")
            values = self._values(losses)
        return StepInfo(self.step_count, math.fsum(values.values()), values)

    # ------------------------------------------------------------- checkpoint
    def state_dict(self) -> dict:
        """
        Everything needed to continue exactly where this run is: parameters and
        buffers, optimizer states, histories, step count, random-number states.
        """
        if not self.initialized:
            raise RuntimeError("nothing to save: the engine has not taken a step yet")
        modules = {k: m.state_dict() for k, m in self._modules().items()
                   if isinstance(m, torch.nn.Module)}
        return {
            "format": CHECKPOINT_FORMAT,
            "mode": self.mode.value,
            "step": self.step_count,
            "layer_params": {k: list(v) for k, v in self.layer_params.items()},
            "modules": modules,
            "optimizers": {k: opt.state_dict() for k, opt in self.optimizers.items()},
            "history": {k: list(v) for k, v in self.history.items()},
            "rng": ckpt.rng_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restores :meth:`state_dict`; the engine must be initialized (see :meth:`init`)."""
        if not self.initialized:
            raise RuntimeError(
                "load_state_dict needs the parameters to exist: call init(*batch) first"
            )
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"unknown checkpoint format {state.get('format')!r}")
        if state["layer_params"] != self.layer_params:
            raise ValueError(
                "the checkpoint's layers and parameters differ from this engine's: "
                f"saved {list(state['layer_params'])}, here {list(self.layer_params)}"
            )
        for key, module in self._modules().items():
            if isinstance(module, torch.nn.Module):
                module.load_state_dict(state["modules"][key])
        for layer, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][layer])
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.step_count = int(state["step"])
        ckpt.set_rng_state(state["rng"])

    def save(self, path, extra: dict | None = None):
        """
        Writes :meth:`state_dict` (plus ``extra``, e.g. a data loader's position) to
        ``path`` atomically: an interruption leaves the previous file intact.

        :raises NonFiniteParameterError: when a parameter is NaN or infinite (nothing
            is written).
        """
        check_finite_parameters(self._layer_params(self.layer_params), self.step_count)
        state = self.state_dict()
        state["extra"] = dict(extra or {})
        return ckpt.atomic_save(state, path)

    def load(self, path, *init_args, **init_kwargs) -> dict:
        """
        Loads a checkpoint written by :meth:`save` (with ``weights_only=True``). On a
        fresh engine, pass a batch as ``init_args`` so parameters can be created.

        :returns: the ``extra`` dict saved with it.
        """
        state = ckpt.load(path, map_location="cpu")
        if not self.initialized:
            if not init_args and not init_kwargs:
                raise RuntimeError(
                    "this engine has no parameters yet: pass a batch, load(path, *batch)"
                )
            self.init(*init_args, **init_kwargs)
        self.load_state_dict(state)
        return state.get("extra", {})

    # -------------------------------------------------------------------- run
    def run(self, batches, num_epochs: int = 1, **kwargs):
        """Trains over ``batches`` for ``num_epochs``; see :func:`pyro_local.infer.run.run`."""
        from .run import run

        return run(self, batches, num_epochs, **kwargs)

    @property
    def layers(self) -> tuple[str, ...]:
        """The layers that have a loss, in network order."""
        return tuple(self.history)

    def parameters(self, layer: str) -> list[torch.Tensor]:
        """The parameters owned by ``layer``."""
        return [self._params[n] for n in self.layer_params.get(layer, [])]

