"""The configuration of a command-line run: its fields, their checks, and the flags."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

import torch

from .._checks import is_int
from .errors import UsageError

__all__ = ["RunConfig", "UsageError", "flag", "resolve_device", "show"]


#: The largest seed: NumPy's generators take seeds below 2**32.
MAX_SEED = 2**32 - 1

#: Inputs per forward pass when evaluating or reporting a model: bounds memory, and is
#: one step of the progress bar.
EVAL_BATCH = 500

#: Fields every model uses: the engine's and the training loop's.
ENGINE_FIELDS = ("epochs", "batch_size", "lr", "mode", "device", "seed", "checkpoint_every")

#: Fields that may change on ``--resume``: they change how the run continues or is
#: evaluated, not the model or the data it is trained on.
RESUMABLE_FIELDS = ("epochs", "device", "mode", "num_samples", "checkpoint_every",
                    "report_draws", "report_points")


def flag(name: str) -> str:
    """The command-line flag of a :class:`RunConfig` field."""
    return {"recipe": "--model", "dataset": "--data", "options": "--option"}.get(
        name, "--" + name.replace("_", "-"))


def show(value) -> str:
    """A field's value as it is spelled on the command line (``50 100``, not ``[50, 100]``)."""
    if isinstance(value, (list, tuple)):
        return " ".join(show(v) for v in value)
    if isinstance(value, dict):
        return " ".join(f"{k}={json.dumps(v)}" for k, v in value.items()) or "(none)"
    return str(value)


@dataclass
class RunConfig:
    """
    Everything that defines a run; saved as ``config.json`` in the run folder (and
    inside every checkpoint), so that ``evaluate``, ``report`` and ``--resume``
    rebuild the same model, and a checkpoint of another run is recognised.

    ``recipe`` is a model of the library (``pyro-local models``) or a factory,
    ``package.module:function`` (see :class:`~pyro_local.cli.ModelSpec`); ``options``
    are extra keyword arguments for a factory. A model reads only the fields it
    uses; ``train`` refuses flags it does not use.
    """

    recipe: str = "bayes-mlp"
    dataset: str = "fashion-mnist"
    epochs: int = 5
    batch_size: int = 100
    lr: float | None = None  # None: the model's default (see `pyro-local models`)
    mode: str = "fused"
    device: str = "auto"
    seed: int = 0
    training: str = "local"
    hidden: list[int] | None = None  # None: the model's own (see `pyro-local models`)
    structure: str = "diagonal"
    rule: str = "svp"
    latent_dims: list[int] | None = None  # None: the model's own (see `pyro-local models`)
    num_samples: int = 20
    report_draws: int = 100
    report_points: int = 500
    checkpoint_every: int = 200
    options: dict = field(default_factory=dict)

    def validate(self) -> RunConfig:
        positive = ("epochs", "batch_size", "num_samples", "report_draws", "report_points",
                    "checkpoint_every")
        for name in positive:
            value = getattr(self, name)
            if not is_int(value):
                raise UsageError(f"{flag(name)}: expected a positive integer, got {value!r}")
        check_report_draws(self.report_draws, "--report-draws")
        if self.lr is not None and (isinstance(self.lr, bool) or not isinstance(
            self.lr, (int, float)) or not (math.isfinite(self.lr) and self.lr > 0)
        ):
            raise UsageError(f"--lr: expected a positive finite number, got {self.lr!r}")
        if not is_int(self.seed, 0) or self.seed > MAX_SEED:
            raise UsageError(f"--seed: expected an integer from 0 to {MAX_SEED}, "
                             f"got {self.seed!r}")
        if self.mode not in ("fused", "sequential"):
            raise UsageError(f"--mode: expected 'fused' or 'sequential', got {self.mode!r}")
        if self.training not in ("local", "global"):
            raise UsageError(f"--training: expected 'local' or 'global', got {self.training!r}")
        for name in ("hidden", "latent_dims"):
            widths = getattr(self, name)
            if widths is None:  # the model's own widths
                continue
            if not isinstance(widths, list) or not widths or not all(
                is_int(w) for w in widths
            ):
                raise UsageError(f"{flag(name)}: expected positive integers, got {widths!r}")
        if not isinstance(self.options, dict) or not all(isinstance(k, str) for k in self.options):
            raise UsageError(f"--option: expected NAME=VALUE pairs, got {self.options!r}")
        if ":" not in self.recipe:  # a factory reads its data itself
            from ..data.catalog import DATASETS

            if self.dataset not in DATASETS:
                raise UsageError(f"--data: expected one of {sorted(DATASETS)}, "
                                 f"got {self.dataset!r}")
        resolve_device(self.device)
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, data: dict, source: str = "config.json") -> RunConfig:
        if not isinstance(data, dict):
            raise UsageError(f"{source}: expected a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"{source}: unknown fields {unknown}")
        try:
            return cls(**data).validate()
        except UsageError as e:
            raise UsageError(f"{source}: {e}") from None

    @classmethod
    def from_json(cls, text: str, source: str = "config.json") -> RunConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise UsageError(f"{source}: not valid JSON ({e})") from None
        return cls.from_dict(data, source)


def check_report_draws(draws: int, name: str) -> None:
    """Refuses fewer posterior draws than the report's Pareto tail fit needs."""
    from ..diagnostics.psis import MIN_DRAWS

    if draws < MIN_DRAWS:
        raise UsageError(f"{name}: expected at least {MIN_DRAWS} posterior draws (the "
                         f"report's Pareto k-hat needs them), got {draws}")


DEVICE_HELP = "auto (CUDA when present, else the CPU), cpu, cuda or cuda:N"


def resolve_device(name: str) -> torch.device:
    """``"auto"``: the machine's best device (CUDA when present, else the CPU). Only
    the CPU and CUDA are accepted: other device types are untested here."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise UsageError(f"--device: expected {DEVICE_HELP}, got {name!r}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {name}: no CUDA device is present on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(f"--device {name}: this machine has {torch.cuda.device_count()} "
                             "CUDA devices")
    return device
