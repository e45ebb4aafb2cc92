"""What a run folder records for its report: the provenance of each training session,
the configuration the run used, and the InferenceData kept beside the report.

``provenance.json`` holds one entry per ``train`` session (a resumed run has several):
when it ran, on which device, with which library version and commit, how many steps and
epochs it completed and how long it took. The report shows them, and the configuration
restricted to the fields the model's recipe reads, with the epochs the run really
completed.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math

from .config import RunConfig, RunDir

__all__ = ["IDATA", "PROVENANCE", "idata_path", "read_sessions", "record_session",
           "used_config"]

PROVENANCE = "provenance.json"
IDATA = "inference_data.nc"

#: Fields every recipe reads (the others are listed in the recipe's ``uses``).
COMMON = ("recipe", "dataset", "epochs", "batch_size", "lr", "seed", "device",
          "checkpoint_every", "report_draws", "report_points")


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


def record_session(run: RunDir, cfg: RunConfig, device, result: dict, num_data: int) -> None:
    """Appends this ``train`` session to ``provenance.json``.

    :param dict result: what :func:`~pyro_local.cli.commands.train` returns (``steps``,
        ``resumed``, ``seconds``).
    :param int num_data: training examples (for the epochs the steps make).
    """
    import pyro_local

    from ..diagnostics.provenance import describe_device, git_commit

    steps_per_epoch = math.ceil(num_data / cfg.batch_size)
    session = {
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": describe_device(device),
        "pyro_local": pyro_local.__version__,
        "git_commit": git_commit() or "",
        "resumed": bool(result["resumed"]),
        "steps": int(result["steps"]),
        "epochs": round(result["steps"] / steps_per_epoch, 2),
        "seconds": round(float(result["seconds"]), 1),
    }
    sessions = read_sessions(run) + [session]
    run.write_text(run.path / PROVENANCE, json.dumps({"sessions": sessions}, indent=1))


def used_config(cfg: RunConfig, uses, steps: int | None = None, num_data: int | None = None,
                device=None) -> dict:
    """The configuration fields the run used: :data:`COMMON` and the recipe's ``uses``,
    with the device it resolved to and, given the steps taken, the epochs completed (which
    after a resume may differ from the last command's ``--epochs``)."""
    values = dataclasses.asdict(cfg)
    config = {k: values[k] for k in values if k in COMMON or k in uses}
    if device is not None:
        config["device"] = str(device)
    if steps is not None and num_data:
        epochs = steps / math.ceil(num_data / cfg.batch_size)
        config["epochs"] = int(epochs) if epochs == int(epochs) else round(epochs, 2)
        config["steps"] = steps
    return config
