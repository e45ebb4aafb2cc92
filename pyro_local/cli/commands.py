"""What the subcommands do: train, evaluate, report, demo."""

from __future__ import annotations

import json
import time

import pyro
import torch

from .. import data as D
from ..diagnostics.classification import classifier_metrics, ood_images
from . import run_record
from .config import RunConfig, RunDir, UsageError, resolve_device
from .recipes import get_recipe


def _load(cfg: RunConfig, split: str, device):
    recipe = get_recipe(cfg.recipe)
    return D.load(cfg.dataset, split, device=device, normalize="standardize",
                  flatten=recipe.flatten)


def _build(cfg: RunConfig, num_data: int, device):
    pyro.set_rng_seed(cfg.seed)
    return get_recipe(cfg.recipe).build(cfg, num_data, device)


def train(cfg: RunConfig, run: RunDir, resume: bool = False, progress: bool = True) -> dict:
    """
    Trains ``cfg``'s model, writing ``config.json`` and an atomic checkpoint to
    ``run`` (every ``checkpoint_every`` steps and at each epoch's end). With
    ``resume``, continues from the run's checkpoint; a run folder with a checkpoint is
    never overwritten without it.
    """
    if run.checkpoint.exists():
        if not resume:
            raise UsageError(f"{run.path} already holds a trained run; pass --resume to "
                             "continue it, or choose another --out")
        saved = run.read_config()
        if {**saved.__dict__, "epochs": 0} != {**cfg.__dict__, "epochs": 0}:
            raise UsageError(f"{run.path}: its config.json differs from these arguments "
                             "(only --epochs may change on --resume)")
    device = resolve_device(cfg.device)
    train_data = _load(cfg, "train", device)
    built = _build(cfg, len(train_data.labels), device)
    run.write_text(run.config, cfg.to_json())
    loader = D.TensorLoader(train_data.images, train_data.labels, batch_size=cfg.batch_size,
                            seed=cfg.seed)
    start = time.perf_counter()
    with built.train_context():
        result = built.svi.run(loader, cfg.epochs, checkpoint=run.checkpoint,
                               checkpoint_every=cfg.checkpoint_every, resume=resume,
                               progress=progress)
    last = {k: v[-1] for k, v in result.history.items() if v}
    out = {"steps": result.steps, "resumed": result.resumed,
           "seconds": time.perf_counter() - start, "final_layer_losses": last}
    run_record.record_session(run, cfg, device, out, len(train_data.labels))
    return out


def _restore(run: RunDir):
    cfg = run.read_config()
    path = run.require_checkpoint()
    device = resolve_device(cfg.device)
    train_data = _load(cfg, "train", device)
    built = _build(cfg, len(train_data.labels), device)
    first = (train_data.images[: cfg.batch_size], train_data.labels[: cfg.batch_size])
    with built.train_context():
        built.svi.load(path, *first)
    built.eval()
    return cfg, built, train_data, device


def _test_metrics(cfg, built, test):
    """Posterior predictive draws on the test set and on out-of-distribution images
    (the first 2000 test images flipped, and noise), and their metrics."""
    ood = ood_images(test.images[:2000], seed=cfg.seed)
    draws = built.predict(test.images, cfg.num_samples)
    ood_draws = {name: built.predict(x, cfg.num_samples) for name, x in ood.items()}
    return draws, ood_draws, classifier_metrics(draws, test.labels, ood_draws)


def evaluate(run: RunDir) -> dict:
    """Test-set metrics of a trained run, written to ``metrics.json``."""
    cfg, built, _, device = _restore(run)
    test = _load(cfg, "test", device)
    with torch.no_grad():
        _, _, metrics = _test_metrics(cfg, built, test)
    metrics = {"model": cfg.recipe, "dataset": cfg.dataset, "test_size": len(test.labels),
               "num_samples": cfg.num_samples, **metrics}
    run.write_text(run.metrics, json.dumps(metrics, indent=1))
    return metrics


def _predict(built, x, num_samples, bar):
    """``built.predict`` in chunks of 500 inputs, advancing the progress bar."""
    out = []
    for start in range(0, len(x), 500):
        out.append(built.predict(x[start : start + 500], num_samples))
        bar.update(min(500, len(x) - start))
    return torch.cat(out, 1)


def _report_data(cfg, built, train_data, test, sizes, progress):
    """The InferenceData of a report: the fit's draws on training examples (Bayesian
    models) and the held-out predictions on test and out-of-distribution images."""
    import arviz as az
    from tqdm.auto import tqdm

    from .. import diagnostics as diag

    # A network without weight posteriors has only its history and held-out predictions.
    idata = az.InferenceData(optimization_history=diag.history_dataset(built.svi.history))
    draws, n = sizes["report draws"], sizes["report training points"]
    if built.guide is not None:
        idata = diag.to_inference_data(
            built.model, built.guide, train_data.images[:n], train_data.labels[:n],
            num_samples=draws, thin=max(1, draws // 50), obs_sites=[built.label_site],
            history=built.svi.history, progress=progress,
        )
    n = sizes["report test points"]
    ood = ood_images(test.images[: sizes["report OOD points"]], seed=cfg.seed)
    with torch.no_grad(), tqdm(total=n + sum(len(x) for x in ood.values()), unit="image",
                               desc="held-out predictions", disable=not progress,
                               leave=False) as bar:
        test_draws = _predict(built, test.images[:n], cfg.num_samples, bar)
        ood_draws = {name: _predict(built, x, cfg.num_samples, bar) for name, x in ood.items()}
    diag.add_held_out(idata, test_draws, test.labels[:n], ood_draws,
                      name=f"first {n} {cfg.dataset} test images")
    return idata, classifier_metrics(test_draws, test.labels[:n], ood_draws)


#: Test images of the report's held-out checks by default (each OOD set has half as many).
TEST_POINTS = 1000


def report(run: RunDir, progress: bool = True, draws: int | None = None,
           points: int | None = None, test_points: int = TEST_POINTS) -> dict:
    """
    The run's HTML report (``report.html``) and its InferenceData
    (``inference_data.nc``): a summary of verdicts; held-out predictions, calibration and
    out-of-distribution detection on ``test_points`` test images (and half as many of
    each out-of-distribution set); posterior predictive checks, per-layer optimisation,
    PSIS k-hat and LOO from ``draws`` posterior draws on ``points`` training examples;
    weight posteriors against their priors; provenance and the configuration the run
    used. ``draws`` and ``points`` default to the run's ``report_draws`` and
    ``report_points``.

    :returns: the held-out metrics.
    """
    from .. import diagnostics as diag
    from ..diagnostics.provenance import CONFIG_ATTR, PROVENANCE_ATTR, attach

    cfg, built, train_data, device = _restore(run)
    test = _load(cfg, "test", device)
    test_n = min(test_points, len(test.labels))
    sizes = {"train": len(train_data.labels), "test": len(test.labels),
             "report draws": draws or cfg.report_draws,
             "report training points": min(points or cfg.report_points, len(train_data.labels)),
             "report test points": test_n, "report OOD points": max(1, test_n // 2)}
    idata, metrics = _report_data(cfg, built, train_data, test, sizes, progress)
    sessions = run_record.read_sessions(run)
    attach(idata, PROVENANCE_ATTR, diag.provenance(
        dataset=cfg.dataset, sizes=sizes, device=device, seed=cfg.seed,
        training_seconds=sum(s.get("seconds", 0.0) for s in sessions) or None,
        sessions=sessions or None))
    attach(idata, CONFIG_ATTR, run_record.used_config(
        cfg, get_recipe(cfg.recipe).uses, steps=built.svi.step_count,
        num_data=len(train_data.labels), device=device))
    diag.save_netcdf(idata, run_record.idata_path(run))
    page = diag.build_report(idata, title=f"pyro-local run report: {cfg.recipe} on {cfg.dataset}")
    run.write_text(run.report, page)
    return metrics


def report_file(path, out=None):
    """The report of an InferenceData netCDF file (written by a run, or by
    :func:`pyro_local.diagnostics.save_netcdf`), beside it (a run's ``report.html`` for
    its ``inference_data.nc``, else the file's name with ``.html``) or at ``out``.

    :returns: the report's path.
    """
    from pathlib import Path

    from .. import diagnostics as diag

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--run {path}: no such file")
    try:
        idata = diag.load_netcdf(path)
    except (OSError, ValueError) as e:
        raise UsageError(f"--run {path}: not an InferenceData netCDF file ({e})") from None
    if out is None:  # a run's inference_data.nc: its report.html; else FILE.html
        out = path.parent / "report.html" if path.name == run_record.IDATA else \
            path.with_suffix(".html")
    out = Path(out)
    return diag.write_report(out, diag.build_report(idata, title=f"pyro-local report: "
                                                                 f"{path.name}"))


DEMO = RunConfig(recipe="bayes-mlp", dataset="fashion-mnist-small", epochs=20, hidden=[100],
                 lr=1e-2, batch_size=100, num_samples=20, report_draws=100,
                 report_points=2000)


def demo(run: RunDir, epochs: int | None = None, device: str = "auto",
         progress: bool = True) -> dict:
    """
    The README's main job: a Bayesian MLP with matrix-normal weight posteriors,
    trained locally on the Fashion-MNIST subset shipped in the package, evaluated, and
    reported, on the machine's best device, in a few minutes on two CPU cores.
    """
    cfg = RunConfig(**{**DEMO.__dict__, "device": device,
                       "epochs": DEMO.epochs if epochs is None else epochs}).validate()
    if run.checkpoint.exists():
        raise UsageError(f"{run.path} already holds a run; choose another --out")
    trained = train(cfg, run, progress=progress)
    metrics = report(run, progress=progress)
    run.write_text(run.metrics, json.dumps(metrics, indent=1))
    return {**trained, **metrics}
