"""What the subcommands do: train, evaluate, report, demo."""

from __future__ import annotations

import json
import time

import pyro
import torch

from .. import data as D
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
    return {"steps": result.steps, "resumed": result.resumed,
            "seconds": time.perf_counter() - start, "final_layer_losses": last}


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
    from ..diagnostics import classifier_metrics, ood_images

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


def report(run: RunDir, progress: bool = True) -> dict:
    """
    The run's HTML report (``report.html``): per-layer ELBO curves, PSIS k-hat overall
    and per layer and LOO (from posterior draws on up to ``report_points`` training
    examples), calibration and out-of-distribution detection on the test set,
    weight-posterior scale spectra, and the configuration.
    """
    from .. import diagnostics as diag

    cfg, built, train_data, device = _restore(run)
    test = _load(cfg, "test", device)
    with torch.no_grad():
        draws, ood_draws, metrics = _test_metrics(cfg, built, test)
    probs = draws.double().mean(0)
    entropy_in = diag.predictive_entropy(probs)[:2000].cpu()
    entropy_out = diag.predictive_entropy(ood_draws["flipped"].double().mean(0)).cpu()
    idata = None
    if built.guide is not None:
        n = min(cfg.report_points, len(train_data.labels))
        idata = diag.to_inference_data(
            built.model, built.guide, train_data.images[:n], train_data.labels[:n],
            num_samples=cfg.report_draws, obs_sites=[built.label_site],
            history=built.svi.history,
        )
    page = diag.build_report(
        idata,
        history=None if idata is not None else built.svi.history,
        calibration=diag.calibration_summary(probs.cpu(), test.labels.cpu()),
        ood=(entropy_in, entropy_out, "predictive entropy (nats), test images vs flipped"),
        weight_scales=built.weight_scales() if built.weight_scales else None,
        config={**cfg.__dict__, "test metrics": metrics},
        title=f"pyro-local run report: {cfg.recipe} on {cfg.dataset}",
    )
    run.write_text(run.report, page)
    return metrics


# Adam at 1e-3 with the layers' defaults (docs/bayes.md); 1e-2 left the posterior noisy
# and underconfident (ECE 0.17).
DEMO = RunConfig(recipe="bayes-mlp", dataset="fashion-mnist-small", epochs=20, hidden=[100],
                 lr=1e-3, batch_size=100, num_samples=20, report_draws=100,
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
