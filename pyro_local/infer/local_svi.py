"""The local SVI engine: each layer's ELBO steps that layer's parameters only."""

from __future__ import annotations

import enum
import functools
import math
import warnings
from collections.abc import Iterator, Mapping

import torch

from .._checks import check_enum
from ..nn.network import LocalNet
from . import checkpoint as ckpt
from . import distributed as ddp
from .engine_rng import EngineRNG
from .errors import check_finite_parameters
from .local_elbo import LocalELBO
from .optimizers import optimizer_kernels
from .ownership import assign_parameters, named_module_parameters, owning_module
from .param_store import EngineParamStore, ParamRecorder, store_parameters
from .site_terms import check_finite, total
from .stages import Stage, layer_stages
from .state_checks import check_engine_state
from .svi_state import LocalSVIState, StepInfo


class Mode(str, enum.Enum):
    """How :class:`LocalSVI` steps: the mathematics of both is the same."""

    #: one forward pass, the per-layer losses summed, one backward, every layer steps.
    FUSED = "fused"
    #: per layer: forward, loss, backward, step; the layer's graph is freed before the
    #: next layer runs, so peak activation memory is that of one layer.
    SEQUENTIAL = "sequential"


def _stack(tensors) -> torch.Tensor:
    """Scalar tensors in one tensor, of their promoted dtype, on one device."""
    values = [v.detach().reshape(()) for v in tensors]
    dtype = functools.reduce(torch.promote_types, (v.dtype for v in values))
    if len({v.device for v in values}) > 1:  # layers on several devices
        values = [v.cpu() for v in values]
    return torch.stack([v.to(dtype) for v in values])


def _floats(tensors: dict[str, torch.Tensor]) -> dict[str, float]:
    """Scalar tensors as floats in their own precision, with one device sync."""
    if len(tensors) <= 1:  # sequential mode: one layer
        return {k: v.item() for k, v in tensors.items()}
    return dict(zip(tensors, _stack(tensors.values()).tolist()))


class LocalSVI:
    """
    Stochastic variational inference where every layer's ELBO updates only that
    layer's parameters, and no gradient crosses a layer boundary.

    The model is either a :class:`~pyro_local.nn.LocalNet` (a sequence of
    per-layer Pyro programs; both modes) or any Pyro model whose layers are marked
    with :func:`pyro_local.poutine.layer`, with its guide (``fused`` mode only).

    The engine owns its state explicitly. Its parameters are those of the model's
    and guide's ``torch.nn.Module`` s (or of the module whose methods they are, as
    in ``LocalSVI(vae.model, vae.guide)``) and those that their ``pyro.param`` and
    ``pyro.module`` statements create. Parameters are named as under Pyro's SVI,
    but in the engine's own :attr:`param_store`, which stands in for Pyro's global
    one while the engine runs: nothing is shared with another engine or picked up
    from an earlier run, and after the first step the parameters are published to
    Pyro's global store, where ``pyro.param(name)`` and ``Predictive`` read them.
    Each layer has its own torch optimizer, built on the first step, when lazily
    created parameters exist; every parameter is in :meth:`state_dict`. Each
    parameter belongs to the layer whose loss reaches it in the autograd graph; a
    parameter reached by two layers' losses is a gradient crossing a boundary and,
    with ``strict=True``, an error.

    The engine draws its random numbers from its own stream
    (``pyro_local.infer.engine_rng.EngineRNG``), swapped in while it runs, so
    stepping leaves torch's global generators as they were; its whole state is one
    :class:`~pyro_local.infer.LocalSVIState` (:attr:`state`).

    :param model: a :class:`~pyro_local.nn.LocalNet`, or a Pyro model (callable).
    :param guide: the guide of a plain model (``None`` for a model whose latents are
        all ``guide_is_prior``); must be ``None`` for a :class:`~pyro_local.nn.LocalNet`.
    :param LocalELBO loss: the per-layer ELBO (default ``LocalELBO()``).
    :param optim: a ``torch.optim.Optimizer`` class (default ``torch.optim.Adam``).
    :param dict optim_args: its keyword arguments, for every layer. Unless they set
        ``fused`` or ``foreach``, the engine asks for torch's fused kernel where the
        optimizer has one, else ``foreach``, whose temporaries add a parameter-sized
        peak (``{"foreach": False}`` avoids it); see ``pyro_local.infer.optimizers``.
    :param dict layer_optim_args: ``{layer: {...}}`` overriding ``optim_args`` per
        layer (per-layer learning rates).
    :param mode: ``"fused"`` (default: one forward pass, the layer losses summed, one
        backward, every layer steps) or ``"sequential"`` (per layer: forward, loss,
        backward, step; the layer's graph is freed before the next layer runs, so peak
        activation memory is that of one layer). The mathematics of both is the same.
    :param dict device_map: ``{layer: device}`` placing layers of a
        :class:`~pyro_local.nn.LocalNet` on devices; inputs move to the layer's device
        at the layer boundary.
    :param bool distributed: combine each layer's gradients over a
        ``torch.distributed`` process group, each process weighted by its share of the
        batch (default: when one with more than one process is running); see
        ``pyro_local.infer.distributed``.
    :param bool strict: reject gradients crossing layer boundaries (default ``True``).
    :param float clip_norm: optional gradient-norm clipping, per layer.
    :param int seed: seeds the engine's random-number stream: it draws what
        ``torch.manual_seed(seed)`` would make torch draw. ``None`` (default) draws a
        seed from torch's global generator when the engine is built.

    Example::

        svi = LocalSVI(net, optim_args={"lr": 1e-3}, mode="sequential")
        for x, y in batches:
            info = svi.step(x, y)   # StepInfo(step, loss, layer_losses, grad_norms)
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
        seed: int | None = None,
    ):
        if not callable(model):
            raise TypeError(f"model must be a LocalNet or a callable Pyro model, got {model!r}")
        self.mode = check_enum(Mode, mode, "mode")
        self.net = model if isinstance(model, LocalNet) else None
        if self.net is not None and guide is not None:
            raise ValueError("a LocalNet holds its layers' guides; pass guide=None")
        if self.net is None and self.mode is Mode.SEQUENTIAL:
            raise ValueError(
                "mode='sequential' needs the model given as a pyro_local.nn.LocalNet "
                "(a sequence of per-layer programs)"
            )
        if self.net is None and device_map:
            raise ValueError("device_map needs the model given as a LocalNet")
        if not (isinstance(optim, type) and issubclass(optim, torch.optim.Optimizer)):
            raise TypeError(f"optim must be a torch.optim.Optimizer class, got {optim!r}")
        if loss is not None and not isinstance(loss, LocalELBO):
            raise TypeError(
                f"loss must be a pyro_local.infer.LocalELBO (it splits the ELBO by layer), "
                f"got {type(loss).__name__}"
            )
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
        self._store_params: dict[str, torch.Tensor] = {}
        #: The engine's own param store (see ``pyro_local.infer.param_store``).
        self.param_store = EngineParamStore()
        #: The engine's random-number stream.
        self.rng = EngineRNG(seed)
        self._share = None  # this process's share of the batch (distributed)

    # ------------------------------------------------------------------ setup
    @property
    def initialized(self) -> bool:
        return bool(self.layer_params)

    def _modules(self) -> dict[str, torch.nn.Module]:
        """The modules the engine owns: the network, or the model's and guide's."""
        if self.net is not None:
            return {"net": self.net}
        out: dict[str, torch.nn.Module] = {}
        for key, fn in (("model", self.model), ("guide", self.guide)):
            module = owning_module(fn)
            if module is not None and all(module is not m for m in out.values()):
                out[key] = module
        return out

    def init(self, *args, **kwargs) -> None:
        """
        Builds the optimizers without stepping: runs the model once on a batch so that
        lazily created parameters (autoguides', ``pyro.param``'s) exist, and assigns
        parameters to layers. :meth:`step` calls it on its own; call it yourself
        before :meth:`load_state_dict` on a fresh engine. It leaves no trace:
        random-number streams (the engine's and torch's) and module buffers (batch-norm
        statistics) are as before, so a run takes the same steps whether or not
        ``init`` was called first.
        """
        if self.initialized:
            return
        modules = list(self._modules().values())
        buffers = [(b, b.detach().clone()) for m in modules for b in m.buffers()]
        recorder = ParamRecorder()
        with self.rng.forked():
            with self.param_store.active():
                if self.net is not None and self.loss.vectorize_particles:
                    self._guess_plate_nesting(args, kwargs)
                with recorder:
                    losses = {stage.layer: stage.loss for stage in self._layers(args, kwargs)}
            self._initialize(losses, recorder)
        with torch.no_grad():
            for buffer, value in buffers:
                buffer.copy_(value)
        self.param_store.publish()

    def _guess_plate_nesting(self, args, kwargs) -> None:
        # The particle plate must sit at one dim in every layer: guess it from the
        # whole network, as Pyro's ELBO guesses it from the whole program.
        if self.loss.max_plate_nesting == math.inf:
            self.loss._guess_max_plate_nesting(self.net.model, self.net.guide, args, kwargs)

    def _initialize(self, losses, recorder: ParamRecorder) -> None:
        module_params = named_module_parameters(self._modules())
        self._store_params = store_parameters(recorder, self.param_store, module_params)
        self._params = {**module_params, **self._store_params}
        if not self._params:
            raise TypeError(
                "LocalSVI found no parameters: the model and guide must own them, as "
                "torch.nn.Modules (PyroModules, or a module whose methods they are) or "
                "through pyro.param / pyro.module"
            )
        owned, self.unused_params = assign_parameters(losses, self._params, self.strict)
        if self.unused_params:
            # Ownership is fixed on the first batch: a parameter no layer's loss reached
            # then gets no optimizer, and would silently keep its initial value.
            shown = ", ".join(self.unused_params[:5])
            more = len(self.unused_params) - 5
            warnings.warn(
                f"LocalSVI: no layer's loss reached {len(self.unused_params)} parameter(s) on "
                f"the first batch, so they will not be trained: {shown}"
                + (f" and {more} more" if more > 0 else ""),
                UserWarning,
                stacklevel=3,
            )
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
            args = optimizer_kernels(self.optim, params, args)
            self.optimizers[layer] = self.optim(params, **args)
        for layer in losses:
            self.history.setdefault(layer, [])
        if self.distributed:
            buffers = [b for m in self._modules().values() for b in m.buffers()]
            ddp.broadcast_tensors(list(self._params.values()) + buffers)

    def _layers(self, args, kwargs) -> Iterator[Stage]:
        """The step's stages, layer by layer (see :func:`~pyro_local.infer.stages.layer_stages`)."""
        return layer_stages(self.model, self.guide, self.loss, args, kwargs, self.device_map)

    # ------------------------------------------------------------------- step
    def _values(self, losses: dict[str, torch.Tensor]) -> dict[str, float]:
        """Loss values as floats with one device sync (averaged over processes)."""
        if not self.distributed:
            return _floats(losses)
        stacked = _stack(losses.values())
        return dict(zip(losses, ddp.all_reduce_mean(stacked, self._share).tolist()))

    def _update(self, layers, norms: dict[str, torch.Tensor]) -> None:
        """Steps the optimizers of ``layers``, putting each layer's gradient norm in ``norms``."""
        updated = [layer for layer in layers if layer in self.optimizers]
        for layer in updated:
            params = [self._params[n] for n in self.layer_params[layer]]
            if self.distributed:
                ddp.all_reduce_gradients(params, self._share)
            grads = [p.grad for p in params if p.grad is not None]
            # One foreach kernel per layer, no host sync: step() reads them all at once.
            norm = torch.nn.utils.get_total_norm(grads) if grads else torch.zeros(())
            if self.clip_norm is not None and grads:
                torch.nn.utils.clip_grads_with_norm_(params, self.clip_norm, norm)
            norms[layer] = norm
            self.optimizers[layer].step()
            self.optimizers[layer].zero_grad(set_to_none=True)
        check_finite_parameters(self._layer_params(updated), self.step_count + 1)

    def _layer_params(self, layers) -> dict:
        return {layer: {n: self._params[n] for n in self.layer_params.get(layer, [])}
                for layer in layers}

    def _step_layers(self, stages: list[Stage], norms: dict) -> dict[str, float]:
        """Differentiates and updates ``stages`` together; returns their loss values."""
        losses = {stage.layer: stage.loss for stage in stages}
        values = self._values(losses)
        check_finite(values, {stage.layer: stage.terms for stage in stages})
        loss = total(losses.values())
        if torch.is_tensor(loss) and loss.requires_grad:
            loss.backward()
        self._update(losses, norms)
        return values

    def step(self, *args, **kwargs) -> StepInfo:
        """
        One update of every layer on one batch. For a :class:`~pyro_local.nn.LocalNet`
        the first positional argument is the network's input; all arguments go to
        every layer. Both modes consume the same stages (``_layers``): fused mode
        differentiates and steps them all at once, sequential mode one at a time.

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
        norms: dict[str, torch.Tensor] = {}
        with self.rng.active(), self.param_store.active():
            stages = self._layers(args, kwargs)
            groups = [list(stages)] if self.mode is Mode.FUSED else ([s] for s in stages)
            values = {}
            for group in groups:  # sequential: a layer's graph is freed before the next runs
                values.update(self._step_layers(group, norms))
        self.step_count += 1
        for layer, value in values.items():
            self.history.setdefault(layer, []).append(value)
        return StepInfo(self.step_count, math.fsum(values.values()), values,
                        _floats(norms))

    def layer_losses(self, *args, **kwargs) -> dict[str, torch.Tensor]:
        """
        The differentiable loss of every layer on a batch, without stepping (for
        custom loops and checks); initializes the engine if needed.
        """
        self.init(*args, **kwargs)
        with self.rng.active(), self.param_store.active():
            return {stage.layer: stage.loss for stage in self._layers(args, kwargs)}

    def evaluate(self, *args, **kwargs) -> StepInfo:
        """The per-layer losses on a batch, without gradients or updates."""
        if not self.initialized:
            raise RuntimeError("evaluate() needs an initialized engine: call init() or step()")
        if self.distributed:
            self._share = ddp.local_share(args, kwargs)
        with torch.no_grad(), self.rng.active(), self.param_store.active():
            losses = {stage.layer: stage.loss for stage in self._layers(args, kwargs)}
            values = self._values(losses)
        return StepInfo(self.step_count, math.fsum(values.values()), values, {})

    # ------------------------------------------------------------- checkpoint
    @property
    def state(self) -> LocalSVIState:
        """
        The engine's state as one record: parameters and buffers (of the modules, and
        those ``pyro.param`` created), optimizer states, histories, step count and the
        engine's random-number stream. Its tensors are the engine's own, not copies.
        """
        if not self.initialized:
            raise RuntimeError("nothing to save: the engine has not taken a step yet")
        return LocalSVIState(
            step=self.step_count,
            mode=self.mode.value,
            layer_params={k: list(v) for k, v in self.layer_params.items()},
            modules={k: m.state_dict() for k, m in self._modules().items()},
            param_store={k: v.detach() for k, v in self._store_params.items()},
            optimizers={k: opt.state_dict() for k, opt in self.optimizers.items()},
            history={k: list(v) for k, v in self.history.items()},
            rng=self.rng.state_dict(),
        )

    def state_dict(self) -> dict:
        """
        :attr:`state` as plain dicts and tensors (loadable with
        ``torch.load(weights_only=True)``): everything needed to continue exactly
        where this run is.
        """
        return self.state.to_dict()

    def load_state_dict(self, state: dict) -> None:
        """
        Restores :meth:`state_dict` (also one of the checkpoint format before the
        engine owned its random-number stream); the engine must be initialized (see
        :meth:`init`). All or nothing: every part is checked against this engine
        (layers, module entries and shapes, optimizer states, random-number state)
        before anything is written.

        :raises ValueError: naming the first part that does not fit.
        """
        if not self.initialized:
            raise RuntimeError(
                "load_state_dict needs the parameters to exist: call init(*batch) first"
            )
        record = LocalSVIState.from_dict(state)
        modules = self._modules()
        check_engine_state(
            record._asdict(), layer_params=self.layer_params, modules=modules,
            store_params=self._store_params, optimizers=self.optimizers,
        )
        rng = EngineRNG(self.rng.seed)
        rng.load_state_dict(record.rng)  # checked before anything is written
        for key, module in modules.items():
            module.load_state_dict(record.modules[key])
        with torch.no_grad():
            for name, value in self._store_params.items():
                value.copy_(record.param_store[name])
        for layer, opt in self.optimizers.items():
            opt.load_state_dict(record.optimizers[layer])
        self.history = {k: list(v) for k, v in record.history.items()}
        self.step_count = int(record.step)
        self.rng = rng

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
        Loads a checkpoint written by :meth:`save` (with ``weights_only=True``), all
        or nothing (see :meth:`load_state_dict`). On a fresh engine, pass a batch as
        ``init_args`` so parameters can be created.

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

    def run(self, batches, num_epochs: int = 1, **kwargs):
        """
        Trains for ``num_epochs`` passes over ``batches``, with a progress bar,
        periodic atomic checkpoints and resume.

        Each batch is a tuple (positional arguments of :meth:`step`), a dict (keyword
        arguments) or a single tensor. A resumed run continues bit for bit on CPU when
        the order of batches depends only on the epoch.

        :param batches: a re-iterable of batches (a loader's ``set_epoch(epoch)`` is
            called first, as with ``DistributedSampler``), or a callable
            ``epoch -> iterable``.
        :param int num_epochs: passes over ``batches``.
        :param checkpoint: the checkpoint file (``str`` or ``Path``), or ``None``.
        :param int checkpoint_every: steps between checkpoints (``None``: at the end of
            every epoch only).
        :param bool resume: continue from ``checkpoint`` if it exists (default ``True``).
        :param bool progress: show a progress bar (default ``True``).
        :param dict extra: saved in every checkpoint's ``extra`` (e.g. the run's
            configuration), beside its position.
        :returns: a :class:`~pyro_local.infer.RunResult`.
        """
        from .run import run

        return run(self, batches, num_epochs, **kwargs)

    @property
    def layers(self) -> tuple[str, ...]:
        """The layers that have a loss, in network order."""
        return tuple(self.history)

    def parameters(self, layer: str) -> list[torch.Tensor]:
        """The parameters owned by ``layer``."""
        return [self._params[n] for n in self.layer_params.get(layer, [])]

