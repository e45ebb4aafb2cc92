"""The command line's run folders from Python: train, evaluate, report, save_run.

A run folder written here is the same as one written by ``pyro-local train``, so
``pyro-local evaluate``, ``report`` and ``train --resume`` accept it, and the
reverse. Flags are spelled as :class:`~pyro_local.cli.config.RunConfig` fields:
``dataset``, ``epochs``, ``batch_size``, ``lr``, ``seed``, ``hidden``, ``options``...

Example::

    from pyro_local import cli

    cli.train("rectified-hierarchy", "runs/h", dataset="fashion-mnist-small", epochs=2)
    cli.train("mypackage.models:regression", "runs/reg", hidden=[100],
              options={"noise": 0.2})
    print(cli.evaluate("runs/reg"))
"""

from __future__ import annotations

from . import commands
from .config import RESUMABLE_FIELDS, RunConfig, flag, show
from .errors import UsageError
from .run_dir import RunDir


def _fields(flags: dict) -> dict:
    known = set(RunConfig.__dataclass_fields__) - {"recipe"}
    unknown = sorted(set(flags) - known)
    if unknown:
        raise TypeError(f"unknown run settings {unknown}; expected some of {sorted(known)}")
    return flags


def train(model: str, out, *, resume: bool = False, progress: bool = True, **flags) -> dict:
    """
    Trains ``model`` (a model of the library, or ``package.module:function``) into
    the run folder ``out``, as ``pyro-local train --model MODEL --out OUT`` does.

    :returns: ``steps``, ``epochs``, ``resumed``, ``seconds``, ``final_layer_losses``.
    """
    return commands.train(RunDir(out), {"recipe": model, **_fields(flags)}, resume=resume,
                          progress=progress)


def evaluate(run) -> dict:
    """Test metrics of the run in folder ``run`` (also written to ``metrics.json``)."""
    return commands.evaluate(RunDir(run))


def report(run, *, draws: int | None = None, points: int | None = None,
           test_points: int | None = None, progress: bool = False) -> dict:
    """
    Writes ``report.html`` and ``inference_data.nc`` in folder ``run``, as
    ``pyro-local report --run RUN --draws ... --points ... --test-points ...`` does;
    returns the held-out metrics (``None`` for a model without test data). The report
    of an InferenceData alone is :func:`pyro_local.diagnostics.build_report`.
    """
    return commands.report(RunDir(run), progress=progress, draws=draws, points=points,
                           test_points=test_points)


def save_run(out, svi, model: str, epochs: int, **flags) -> RunDir:
    """
    Writes a run folder for an engine trained in your own loop: ``checkpoint.pt``
    (the engine's state, with the configuration in it), then ``config.json``, under
    the folder's lock. ``model`` must be a factory (``package.module:function``) or
    a model of the library that rebuilds the engine's model from the same ``flags``:
    build your engine from the factory's :class:`~pyro_local.cli.ModelSpec`, as
    ``pyro-local train`` does. Saving again into the same folder replaces the run if
    only fields that may change on resume differ (e.g. ``epochs``); a folder holding
    another run is refused.

    :param LocalSVI svi: the trained engine.
    :param int epochs: the epochs completed (``--resume`` continues from there).
    :returns: the folder.
    """
    flags = _fields(flags)
    flags.setdefault("lr", svi.optim_args.get("lr"))
    cfg = RunConfig(recipe=model, epochs=epochs, **flags).validate()
    run = RunDir(out)
    with run.lock("save_run"):
        if run.checkpoint.is_file():
            saved = run.read_config()
            for name, value in saved.to_dict().items():
                if name not in RESUMABLE_FIELDS and getattr(cfg, name) != value:
                    raise UsageError(f"{run.path} holds another run ({flag(name)} "
                                     f"{show(value)} there, {show(getattr(cfg, name))} here)")
        svi.save(run.checkpoint, extra={"config": cfg.to_dict(), "epoch": epochs, "batch": 0})
        run.write_text(run.config, cfg.to_json())
    return run
