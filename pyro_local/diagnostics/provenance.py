"""Where a result came from: library versions, source commit, date, device, data, time.

:func:`provenance` collects it as a JSON-serialisable dict; :func:`attach` stores a dict
(provenance, configuration or held-out metrics) as a JSON attribute of an InferenceData,
which is how the report finds them and how they travel in the netCDF file.
"""

from __future__ import annotations

import datetime
import json
import platform
import subprocess
from pathlib import Path

__all__ = ["CONFIG_ATTR", "METRICS_ATTR", "PROVENANCE_ATTR", "attach", "describe_device",
           "git_commit", "provenance", "read_attr"]

PROVENANCE_ATTR = "provenance"
CONFIG_ATTR = "config"
#: Held-out metrics of a model that is not a classifier (e.g. a test ELBO), as a dict.
METRICS_ATTR = "test_metrics"


def _git(directory, *args):
    try:
        out = subprocess.run(["git", "-C", str(directory), *args], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit():
    """The commit of the pyro_local source in use, with ``+dirty`` when tracked files
    differ from it; ``None`` when the package is not a file of a git checkout (an
    installed wheel)."""
    import pyro_local

    package = Path(pyro_local.__file__).resolve().parent
    if _git(package, "ls-files", "--error-unmatch", "__init__.py") is None:
        return None
    commit = _git(package, "rev-parse", "HEAD")
    if commit is None:
        return None
    dirty = _git(package, "status", "--porcelain", "--untracked-files=no")
    return commit + ("+dirty" if dirty else "")


def describe_device(device=None):
    """The device in words: the CUDA device's name, or the CPU and torch's threads.

    :param device: a ``torch.device`` or its name; ``None`` for the CPU.
    """
    import torch

    device = torch.device("cpu" if device is None else device)
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = torch.get_num_threads()
    return f"cpu ({cpu}; torch uses {threads} thread{'s' if threads > 1 else ''})"


def provenance(*, dataset=None, sizes=None, device=None, seed=None, training_seconds=None,
               **extra):
    """The provenance of a result.

    :param str dataset: the data set's name.
    :param dict sizes: e.g. ``{"train": 60000, "test": 10000}``.
    :param device: the device the work ran on.
    :param int seed: the random seed.
    :param float training_seconds: wall-clock training time.
    :param extra: further JSON-serialisable entries.
    :rtype: dict
    """
    import arviz
    import pyro
    import torch

    import pyro_local

    record = {
        "pyro_local": pyro_local.__version__,
        "git_commit": git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": describe_device(device),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pyro": pyro.__version__,
        "arviz": arviz.__version__,
        "dataset": dataset,
        "sizes": sizes,
        "seed": seed,
        "training_seconds": training_seconds,
        **extra,
    }
    return {k: v for k, v in record.items() if v is not None}


def attach(idata, name, record):
    """Stores ``record`` (a JSON-serialisable dict) as ``idata.attrs[name]`` in JSON and
    returns ``idata``."""
    idata.attrs[name] = json.dumps(record, default=str)
    return idata


def read_attr(idata, name):
    """The dict :func:`attach` stored under ``name``, or ``None``."""
    text = getattr(idata, "attrs", {}).get(name)
    return json.loads(text) if isinstance(text, str) else None
