"""What the subcommands do: train, evaluate, report, demo.

Each takes a :class:`~pyro_local.cli.run_dir.RunDir` and holds its lock while it
writes there; these functions are also the Python API (``pyro_local.cli``).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path

import torch

from .. import data as D
from ..infer import checkpoint as ckpt
from . import run_record
from .config import (
    RESUMABLE_FIELDS,
    RunConfig,
    check_report_draws,
    flag,
    resolve_device,
    show,
)
from .errors import UsageError
from .jobs import build_job, check_flags, first_batch, load_checkpoint, model_fields
from .report_data import TEST_POINTS
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
        device = resolve_device(cfg.device)
        job = build_job(cfg, device)
        loader = D.TensorLoader(*job.train, batch_size=cfg.batch_size, seed=cfg.seed,
                                transform=job.transform)
        if extra is not None:
            load_checkpoint(job, run.checkpoint, first_batch(job, cfg))
        run.write_text(run.config, cfg.to_json())
        steps_before, start = job.svi.step_count, time.perf_counter()
        with job.train_context():
            result = job.svi.run(loader, cfg.epochs, checkpoint=run.checkpoint,
                                 checkpoint_every=cfg.checkpoint_every,
                                 resume=extra is not None, progress=progress,
                                 extra={"config": cfg.to_dict()})
        last = {k: v[-1] for k, v in result.history.items() if v}
        out = {"steps": result.steps, "epochs": result.epochs, "resumed": result.resumed,
               "seconds": time.perf_counter() - start, "final_layer_losses": last}
        if result.steps > steps_before:  # a complete run resumed (the demo again) trains none
            run_record.record_session(run, device, out)
    return out


def _restore(run: RunDir):
    """The run's configuration, its job with the checkpoint loaded, the checkpoint's
    ``extra`` and the device."""
    cfg = run.read_config()
    path = run.require_checkpoint()
    extra = _checked_extra(run, cfg)
    device = resolve_device(cfg.device)
    job = build_job(cfg, device)
    load_checkpoint(job, path, first_batch(job, cfg))
    job.eval()
    return cfg, job, extra, device


def _test(job) -> tuple:
    test = job.test()
    if test is None:
        raise UsageError("the model's factory gives no test data (ModelSpec.test)")
    return test


def _metrics(cfg: RunConfig, test, metrics: dict) -> dict:
    used = model_fields(cfg)
    head = {"model": cfg.recipe}
    if used is None or "dataset" in used:
        head["dataset"] = cfg.dataset
    head.update(test_size=len(test[0]), num_samples=cfg.num_samples)
    return {**head, **metrics}


def evaluate(run: RunDir) -> dict:
    """Test-set metrics of a trained run, written to ``metrics.json``."""
    with run.lock("evaluate", create=False):
        cfg, job, _, _ = _restore(run)
        test = _test(job)
        with torch.no_grad():
            metrics = _metrics(cfg, test, job.evaluate(test))
        run.write_text(run.metrics, json.dumps(metrics, indent=1))
    return metrics


def _epochs_done(extra: dict, steps: int, steps_per_epoch: int) -> float:
    """The epochs the checkpoint's position stands for (its steps when it has none)."""
    if "epoch" in extra:
        return int(extra["epoch"]) + int(extra.get("batch", 0)) / steps_per_epoch
    return steps / steps_per_epoch


def report(run: RunDir, progress: bool = True, draws: int | None = None,
           points: int | None = None, test_points: int | None = None) -> dict:
    """
    The run's HTML report (``report.html``) and its InferenceData
    (``inference_data.nc``), written under the folder's lock: a summary of verdicts;
    the held-out results on the first ``test_points`` test examples (a classifier's
    predictions, calibration and out-of-distribution detection; another model's own
    test metrics); posterior predictive checks, per-layer optimisation, PSIS k-hat and
    LOO from ``draws`` posterior draws on ``points`` training examples; weight
    posteriors against their priors and the sparsity of rectified latents, where the
    model has them; provenance and the configuration the run used. ``draws`` and
    ``points`` default to the run's ``report_draws`` and ``report_points``,
    ``test_points`` to :data:`~pyro_local.cli.report_data.TEST_POINTS`.

    :returns: the held-out metrics.
    """
    from .. import diagnostics as diag
    from ..diagnostics.provenance import CONFIG_ATTR, PROVENANCE_ATTR, attach
    from .report_data import fit_data, test_subset

    if draws is not None:
        check_report_draws(draws, "--draws")
    with run.lock("report", create=False):
        cfg, job, extra, device = _restore(run)
        fields, test = model_fields(cfg), job.test()
        num_train = len(job.train[0])
        sizes = {"train": num_train, "test": None if test is None else len(test[0]),
                 "report draws": draws or cfg.report_draws,
                 "report training points": min(points or cfg.report_points, num_train)}
        idata = fit_data(job, sizes["report draws"], sizes["report training points"],
                         cfg.seed, progress)
        metrics, keywords = None, {}
        if test is not None:  # a factory may give no test data: the fit alone
            test = test_subset(test, test_points or TEST_POINTS)
            sizes["report test points"] = len(test[0])
            with torch.no_grad():
                metrics, keywords = job.report(idata, test, sizes, progress)
            metrics = _metrics(cfg, test, metrics)
        sessions = run_record.read_sessions(run)
        attach(idata, PROVENANCE_ATTR, diag.provenance(
            dataset=cfg.dataset if fields is None or "dataset" in fields else None,
            sizes={k: v for k, v in sizes.items() if v is not None}, device=device,
            seed=cfg.seed,
            training_seconds=sum(s.get("seconds", 0.0) for s in sessions) or None,
            sessions=sessions or None))
        steps, per_epoch = job.svi.step_count, -(-num_train // cfg.batch_size)
        attach(idata, CONFIG_ATTR, run_record.used_config(
            cfg, fields, steps=steps, epochs=_epochs_done(extra, steps, per_epoch),
            device=device))
        diag.save_netcdf(idata, run_record.idata_path(run))
        page = diag.build_report(idata, title=f"pyro-local run report: {cfg.recipe}",
                                 **keywords)
        run.write_text(run.report, page)
    return metrics


def netcdf_of(path) -> Path | None:
    """The InferenceData file ``report`` reads for ``path``: ``path`` itself when it
    names a ``.nc`` file, a folder's ``inference_data.nc`` when the folder is not a run
    folder (Python code wrote only its data), else ``None`` (a run folder)."""
    path = Path(path)
    if path.suffix == ".nc":
        return path
    saved = run_record.idata_path(RunDir(path))
    return saved if saved.is_file() and not RunDir(path).config.exists() else None


def report_file(path, out=None) -> Path:
    """The report of an InferenceData netCDF file (written by a run, or by
    :func:`pyro_local.diagnostics.save_netcdf`), beside it (a run's ``report.html`` for
    its ``inference_data.nc``, else the file's name with ``.html``) or at ``out``. A run
    folder written into is locked while the report is written.

    :returns: the report's path.
    """
    from .. import diagnostics as diag

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--run {path}: no such file")
    if out is None:  # a run's inference_data.nc: its report.html; else FILE.html
        out = path.parent / "report.html" if path.name == run_record.IDATA else \
            path.with_suffix(".html")
    folder = RunDir(Path(out).parent)
    lock = folder.lock("report", create=False) if folder.config.is_file() else \
        contextlib.nullcontext()
    with lock:
        try:
            idata = diag.load_netcdf(path)
        except (OSError, ValueError) as e:
            raise UsageError(f"--run {path}: not an InferenceData netCDF file ({e})") from None
        page = diag.build_report(idata, title=f"pyro-local report: {path.name}")
        return folder.write_text(Path(out), page)


#: The demo's configuration: a Bayesian MLP on the shipped subset, Adam at 1e-3 with the
#: layers' defaults (docs/bayes.md; 1e-2 left the posterior noisy and underconfident, ECE 0.17).
DEMO = {"recipe": "bayes-mlp", "dataset": "fashion-mnist-small", "epochs": 20,
        "hidden": [100], "lr": 1e-3, "batch_size": 100, "num_samples": 20,
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
