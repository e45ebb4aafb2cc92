"""The ``pyro-local`` command line (also ``python -m pyro_local``), and its run folders
from Python (:func:`train`, :func:`evaluate`,
:func:`report`, :func:`save_run`)."""

from .api import evaluate, report, save_run, train
from .config import RunConfig
from .errors import UsageError
from .model_spec import ModelSpec
from .run_dir import RunDir

__all__ = [
    "ModelSpec",
    "RunConfig",
    "RunDir",
    "UsageError",
    "evaluate",
    "report",
    "save_run",
    "train",
]
