"""The configuration of a command-line run, and the run's folder."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch


class UsageError(Exception):
    """A bad argument or a missing file: shown as one line, never as a traceback."""


@dataclass
class RunConfig:
    """
    Everything that defines a run; saved as ``config.json`` in the run folder, so
    that ``evaluate``, ``report`` and ``--resume`` rebuild the same model.

    Fields that a recipe does not use are ignored by it (see ``pyro-local models``).
    """

    recipe: str = "bayes-mlp"
    dataset: str = "fashion-mnist"
    epochs: int = 5
    batch_size: int = 100
    lr: float = 1e-3
    mode: str = "fused"
    device: str = "auto"
    seed: int = 0
    training: str = "local"
    hidden: list[int] = field(default_factory=lambda: [200])
    structure: str = "diagonal"
    rule: str = "svp"
    latent_dims: list[int] = field(default_factory=lambda: [300, 200, 100, 50])
    num_samples: int = 20
    report_draws: int = 100
    report_points: int = 500
    checkpoint_every: int = 200

    def validate(self) -> RunConfig:
        positive = ("epochs", "batch_size", "num_samples", "report_draws", "report_points",
                    "checkpoint_every")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < (
                0 if name == "epochs" else 1
            ):
                raise UsageError(f"--{name.replace('_', '-')}: expected a positive integer, "
                                 f"got {value!r}")
        if not self.lr > 0:
            raise UsageError(f"--lr: expected a positive number, got {self.lr!r}")
        if self.mode not in ("fused", "sequential"):
            raise UsageError(f"--mode: expected 'fused' or 'sequential', got {self.mode!r}")
        if self.training not in ("local", "global"):
            raise UsageError(f"--training: expected 'local' or 'global', got {self.training!r}")
        for name in ("hidden", "latent_dims"):
            widths = getattr(self, name)
            if not widths or not all(isinstance(w, int) and w > 0 for w in widths):
                raise UsageError(f"--{name.replace('_', '-')}: expected positive integers, "
                                 f"got {widths!r}")
        from ..data import DATASETS

        if self.dataset not in DATASETS:
            raise UsageError(f"--data: expected one of {sorted(DATASETS)}, got {self.dataset!r}")
        resolve_device(self.device)
        return self

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str, source: str = "config.json") -> RunConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise UsageError(f"{source}: not valid JSON ({e})") from None
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"{source}: unknown fields {unknown}")
        return cls(**data).validate()


def resolve_device(name: str) -> torch.device:
    """``"auto"``: the machine's best device (CUDA when present, else the CPU)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device: expected auto, cpu, cuda or cuda:N, got {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: no CUDA device is present on this machine")
    return device


class RunDir:
    """
    A run's folder: ``config.json``, ``checkpoint.pt`` (the engine's state),
    ``metrics.json``, ``report.html``.
    """

    def __init__(self, path):
        self.path = Path(path)

    @property
    def config(self) -> Path:
        return self.path / "config.json"

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.json"

    @property
    def report(self) -> Path:
        return self.path / "report.html"

    def read_config(self) -> RunConfig:
        if not self.config.is_file():
            raise UsageError(f"{self.path}: no config.json here; is it a run folder "
                             "written by `pyro-local train`?")
        return RunConfig.from_json(self.config.read_text(), str(self.config))

    def require_checkpoint(self) -> Path:
        if not self.checkpoint.is_file():
            raise UsageError(f"{self.path}: no checkpoint.pt here; train first "
                             f"(`pyro-local train --out {self.path}`)")
        return self.checkpoint

    def write_text(self, path: Path, text: str) -> Path:
        """Writes ``text`` atomically (temporary file, then rename)."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=self.path)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path
