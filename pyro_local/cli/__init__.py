"""The ``pyro-local`` command line (also ``python -m pyro_local``), and its run folders
from Python (:mod:`pyro_local.cli.api`)."""

from .api import evaluate, report, save_run, train
from .config import RunConfig
from .model_spec import ModelSpec
from .run_dir import RunDir

__all__ = [
    "ModelSpec",
    "RunConfig",
    "RunDir",
    "evaluate",
    "report",
    "save_run",
    "train",
]
