"""What the subcommands do: train, evaluate, report, demo.

Each takes a :class:`~pyro_local.cli.run_dir.RunDir` and holds its lock while it
writes there; these functions are also the Python API (``pyro_local.cli``).
"""

from __future__ import annotations

import json
import sys
import time

import torch

from .. import data as D
from ..infer import checkpoint as ckpt
from .config import RESUMABLE_FIELDS, RunConfig, flag, resolve_device, show
from .errors import UsageError
from .jobs import build_job, check_flags, first_batch, load_checkpoint, model_fields
from .run_dir import RunDir


def _stderr(message: str) -> None:
    print(f"pyro-local: {message}", file=sys.stderr)


def _checked_extra(run: RunDir, saved: RunConfig) -> dict:
    """The checkpoint's ``extra``, once its recorded configuration is found to be
    ``config.json``'s (else the folder mixes two runs)."""
    try:  # mapped, not read: only the small entries are touched
        extra = ckpt.load(run.checkpoint, map_location="cpu", mmap=True).get("extra", {})
    except ckpt.CheckpointError as e:
        raise UsageError(str(e)) from None
    recorded = extra.get("config")
    if isinstance(recorded, dict):
        for name, value in saved.to_dict().items():
            if name not in RESUMABLE_FIELDS and name in recorded and recorded[name] != value:
                raise UsageError(
                    f"{run.path} mixes two runs: its checkpoint was trained with "
                    f"{flag(name)} {show(recorded[name])}, its config.json says {show(value)}")
    return extra


def _resumed_config(run: RunDir, flags: dict) -> tuple[RunConfig, dict]:
    saved = run.read_config()
    for name, value in flags.items():
        if name not in RESUMABLE_FIELDS and value != getattr(saved, name):
            may = ", ".join(flag(f) for f in RESUMABLE_FIELDS)
            raise UsageError(f"{flag(name)} differs: {show(getattr(saved, name))} saved, "
                             f"{show(value)} given (on --resume only {may} may change)")
    extra = _checked_extra(run, saved)
    cfg = RunConfig(**{**saved.to_dict(),
                       **{k: v for k, v in flags.items() if k in RESUMABLE_FIELDS}}).validate()
    done = int(extra.get("epoch", 0))
    if cfg.epochs < done:
        raise UsageError(f"--epochs {cfg.epochs}: the run in {run.path} has already trained "
                         f"{done} epochs; give more to continue it")
    return cfg, extra


def settle_config(run: RunDir, flags: dict, resume: bool, notify=_stderr) -> tuple:
    """
    The configuration ``train`` runs with: on a new run, ``flags`` (the fields given
    explicitly) over the defaults; on ``--resume``, the saved configuration, where
    only the fields in :data:`~pyro_local.cli.config.RESUMABLE_FIELDS` may change
    (any other that differs is an error naming it).

    :returns: ``(config, extra)``: ``extra`` is the checkpoint's, or ``None`` for a
        run that starts from step 0.
    """
    notify = notify or (lambda message: None)
    has_checkpoint = run.checkpoint.is_file()
    if has_checkpoint and not resume:
        raise UsageError(f"{run.path} already holds a trained run; pass --resume to "
                         "continue it, or choose another --out")
    if resume and has_checkpoint:
        return _resumed_config(run, flags)
    if resume and run.config.is_file():
        notify(f"{run.path} has no checkpoint yet: its run starts from the beginning")
        return RunConfig(**{**run.read_config().to_dict(), **flags}).validate(), None
    if resume:
        notify(f"{run.path} holds no run to resume: starting a new one")
    return RunConfig(**flags).validate(), None


def train(run: RunDir, flags: dict, resume: bool = False, progress: bool = True,
          notify=_stderr) -> dict:
    """
    Trains a model into the run folder ``run``: ``config.json``, then an atomic
    checkpoint every ``checkpoint_every`` steps and at each epoch's end, each holding
    the configuration. With ``resume``, continues the run there (see
    :func:`settle_config`); a folder with a checkpoint is never overwritten without
    it, and a resume that fails leaves the folder as it was.

    :param dict flags: :class:`~pyro_local.cli.config.RunConfig` fields given
        explicitly (``recipe`` names the model).
    :returns: ``steps``, ``epochs``, ``resumed``, ``seconds`` and the last step's
        ``final_layer_losses``.
    """
    if not run.config.is_file():  # a new run: check the flags before creating anything
        check_flags(RunConfig(**flags).validate(), flags)
    with run.lock("train"):
        removed = run.remove_temporaries()
        if removed and notify:
            notify(f"removed {len(removed)} temporary file(s) a killed run left in {run.path}")
        cfg, extra = settle_config(run, flags, resume, notify)
        check_flags(cfg, flags)
        job = build_job(cfg, resolve_device(cfg.device))
        loader = D.TensorLoader(*job.train, batch_size=cfg.batch_size, seed=cfg.seed,
                                transform=job.transform)
        if extra is not None:
            load_checkpoint(job, run.checkpoint, first_batch(job, cfg))
        run.write_text(run.config, cfg.to_json())
        start = time.perf_counter()
        with job.train_context():
            result = job.svi.run(loader, cfg.epochs, checkpoint=run.checkpoint,
                                 checkpoint_every=cfg.checkpoint_every,
                                 resume=extra is not None, progress=progress,
                                 extra={"config": cfg.to_dict()})
    last = {k: v[-1] for k, v in result.history.items() if v}
    return {"steps": result.steps, "epochs": result.epochs, "resumed": result.resumed,
            "seconds": time.perf_counter() - start, "final_layer_losses": last}


def _restore(run: RunDir):
    cfg = run.read_config()
    path = run.require_checkpoint()
    _checked_extra(run, cfg)
    job = build_job(cfg, resolve_device(cfg.device))
    load_checkpoint(job, path, first_batch(job, cfg))
    job.eval()
    return cfg, job


def _metrics(cfg: RunConfig, job, test) -> dict:
    used = model_fields(cfg)
    head = {"model": cfg.recipe}
    if used is None or "dataset" in used:
        head["dataset"] = cfg.dataset
    head.update(test_size=len(test[0]), num_samples=cfg.num_samples)
    with torch.no_grad():
        return {**head, **job.evaluate(test)}


def evaluate(run: RunDir) -> dict:
    """Test-set metrics of a trained run, written to ``metrics.json``."""
    with run.lock("evaluate", create=False):
        cfg, job = _restore(run)
        metrics = _metrics(cfg, job, job.test())
        run.write_text(run.metrics, json.dumps(metrics, indent=1))
    return metrics


def report(run: RunDir, progress: bool = True) -> dict:
    """
    The run's HTML report (``report.html``): per-layer ELBO curves, PSIS k-hat and
    LOO from posterior draws on up to ``report_points`` training examples, the
    model's own sections (calibration and out-of-distribution detection for the
    classifiers, sparsity for the rectified hierarchy), and the configuration.
    """
    from .. import diagnostics as diag

    with run.lock("report", create=False):
        cfg, job = _restore(run)
        test = job.test()
        metrics = _metrics(cfg, job, test)
        parts = job.report(job.train, test, metrics)
        page = diag.build_report(
            config={**cfg.to_dict(), "test metrics": metrics},
            title=f"pyro-local run report: {cfg.recipe}", **parts)
        run.write_text(run.report, page)
    return metrics


#: The demo's configuration: a Bayesian MLP on the shipped subset.
DEMO = {"recipe": "bayes-mlp", "dataset": "fashion-mnist-small", "epochs": 20,
        "hidden": [100], "lr": 1e-2, "batch_size": 100, "num_samples": 20,
        "report_draws": 100, "report_points": 2000}


def demo(run: RunDir, epochs: int | None = None, device: str = "auto",
         progress: bool = True) -> dict:
    """
    The README's main job: a Bayesian MLP with matrix-normal weight posteriors,
    trained locally on the Fashion-MNIST subset shipped in the package, evaluated, and
    reported, on the machine's best device, in a few minutes on two CPU cores. Run
    again on the same folder, it continues (or, when complete, only re-reports) the
    demo there.
    """
    flags = {**DEMO, "device": device, "epochs": DEMO["epochs"] if epochs is None else epochs}
    with run.lock("demo"):
        trained = train(run, flags, resume=True, progress=progress, notify=None)
        metrics = report(run, progress=progress)
        run.write_text(run.metrics, json.dumps(metrics, indent=1))
    return {**trained, **metrics}
