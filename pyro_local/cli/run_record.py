"""What a run folder records for its report: the provenance of each training session,
the configuration the run used, and the InferenceData kept beside the report.

``provenance.json`` holds one entry per ``train`` session (a resumed run has several):
when it ran, on which device, with which library version and commit, how many steps and
epochs it completed and how long it took. The report shows them, and the configuration
restricted to the fields the model reads (:func:`~pyro_local.cli.jobs.model_fields`),
with the epochs the run really completed.
"""

from __future__ import annotations

import datetime
import json

from .config import RunConfig
from .run_dir import RunDir

__all__ = ["IDATA", "PROVENANCE", "idata_path", "read_sessions", "record_session",
           "used_config"]

PROVENANCE = "provenance.json"
IDATA = "inference_data.nc"


def idata_path(run: RunDir):
    """Where the run's InferenceData (netCDF) is kept."""
    return run.path / IDATA


def read_sessions(run: RunDir) -> list:
    """The training sessions recorded in the run folder (oldest first)."""
    path = run.path / PROVENANCE
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text()).get("sessions", []))
    except (json.JSONDecodeError, AttributeError):
        return []


def record_session(run: RunDir, device, result: dict) -> None:
    """Appends this ``train`` session to ``provenance.json`` (call it holding the
    folder's lock).

    :param dict result: what :func:`~pyro_local.cli.commands.train` returns (``steps``,
        ``epochs``, ``resumed``, ``seconds``).
    """
    import pyro_local

    from ..diagnostics.provenance import describe_device, git_commit

    session = {
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": describe_device(device),
        "pyro_local": pyro_local.__version__,
        "git_commit": git_commit() or "",
        "resumed": bool(result["resumed"]),
        "steps": int(result["steps"]),
        "epochs": int(result["epochs"]),
        "seconds": round(float(result["seconds"]), 1),
    }
    sessions = read_sessions(run) + [session]
    run.write_text(run.path / PROVENANCE, json.dumps({"sessions": sessions}, indent=1))


def used_config(cfg: RunConfig, fields: set | None, steps: int | None = None,
                epochs: float | None = None, device=None) -> dict:
    """The configuration fields the run used: ``recipe`` and ``fields`` (all when
    ``None``), with the device it resolved to and, when given, the steps taken and the
    epochs completed (which after a resume may differ from the last ``--epochs``)."""
    values = cfg.to_dict()
    config = {k: v for k, v in values.items() if k == "recipe" or fields is None or k in fields}
    if device is not None:
        config["device"] = str(device)
    if epochs is not None:
        config["epochs"] = int(epochs) if epochs == int(epochs) else round(epochs, 2)
    if steps is not None:
        config["steps"] = steps
    return config
