"""A model ready to train or use: a recipe's or a factory's, behind one interface."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyro
import torch

from .. import data as D
from ..infer import LocalSVI
from ..infer import checkpoint as ckpt
from .config import ENGINE_FIELDS, RunConfig, flag
from .errors import UsageError
from .model_spec import (
    ModelSpec,
    call_factory,
    check_options,
    factory_fields,
    is_factory_path,
    load_factory,
)
from .recipes import RECIPES, get_recipe

#: Models of the library that are factories (the same protocol as your own).
BUILTIN_FACTORIES = {
    "rectified-hierarchy": "pyro_local.cli.hierarchy:rectified_hierarchy",
}

#: The learning rate of a model that names none.
DEFAULT_LR = 1e-3


@dataclass
class Job:
    """
    A model ready to train or use.

    :param LocalSVI svi: its engine.
    :param tuple train: the training tensors (examples along the first dimension).
    :param callable test: ``() -> tuple`` of test tensors.
    :param callable transform: applied to each training batch's first tensor.
    :param callable train_context: ``() -> context manager`` around training.
    :param callable evaluate: ``(test) -> {metric: value}``.
    :param callable report: ``(train, test, metrics) -> {build_report keyword: value}``.
    """

    svi: LocalSVI
    train: tuple
    test: Callable
    transform: Callable | None
    train_context: Callable
    evaluate: Callable
    report: Callable

    def eval(self):
        for m in (self.svi.model, self.svi.guide):
            if isinstance(m, torch.nn.Module):
                m.eval()


def model_fields(cfg: RunConfig) -> set[str] | None:
    """The RunConfig fields the model reads (``None``: all), without building it."""
    common = set(ENGINE_FIELDS)
    if cfg.recipe in RECIPES:
        return common | {"dataset", "report_draws", "report_points"} | set(
            get_recipe(cfg.recipe).uses)
    fields = factory_fields(_factory(cfg.recipe))
    if fields is None:
        return None
    return common | fields | {"num_samples", "options", "report_draws", "report_points"}


def check_flags(cfg: RunConfig, flags: dict) -> None:
    """Refuses the flags given explicitly that the model does not use."""
    used = model_fields(cfg)
    unused = [] if used is None else [n for n in flags if n not in used and n != "recipe"]
    if unused:
        common = {*ENGINE_FIELDS, "dataset", "report_draws", "report_points"}
        own = [f for f in RunConfig.__dataclass_fields__ if f in used and f not in common]
        uses = ", ".join(flag(f) for f in own) or "none of the model flags"
        raise UsageError(f"{flag(unused[0])}: the model {cfg.recipe} does not use it "
                         f"(of the model flags it uses {uses})")
    if cfg.options and cfg.recipe not in RECIPES:
        check_options(_factory(cfg.recipe), cfg.options, cfg.recipe)


def model_names() -> list[str]:
    return [*RECIPES, *BUILTIN_FACTORIES]


def model_summaries() -> list[tuple[str, str]]:
    """``(name, one line)`` for every model of the library."""
    out = [(r.name, r.summary) for r in RECIPES.values()]
    for name in BUILTIN_FACTORIES:
        doc = (_factory(name).__doc__ or "").strip()
        out.append((name, " ".join(doc.split("\n\n")[0].split())))
    return out


def _factory(name: str):
    if name in BUILTIN_FACTORIES:
        return load_factory(BUILTIN_FACTORIES[name])
    if is_factory_path(name):
        return load_factory(name)
    raise UsageError(f"--model: expected one of {model_names()} or package.module:function, "
                     f"got {name!r}")


def build_job(cfg: RunConfig, device: torch.device) -> Job:
    """Builds ``cfg``'s model and engine (seeded by ``cfg.seed``); fills in ``cfg.lr``
    when it is ``None`` (the model's default)."""
    pyro.set_rng_seed(cfg.seed)
    if cfg.recipe in RECIPES:
        return _recipe_job(cfg, device)
    fn = _factory(cfg.recipe)
    spec = call_factory(fn, cfg, device, source=cfg.recipe)
    if cfg.lr is None:
        cfg.lr = spec.optim_args.get("lr", DEFAULT_LR)
        cfg.validate()  # the factory's learning rate, too, must be positive and finite
    try:
        svi = LocalSVI(spec.model, spec.guide, loss=spec.loss, optim=spec.optim,
                       optim_args={**spec.optim_args, "lr": cfg.lr}, mode=cfg.mode,
                       strict=spec.strict)
    except (TypeError, ValueError) as e:
        raise UsageError(f"--model {cfg.recipe}: {e}") from None
    train = tuple(t.to(device) for t in spec.train)
    return Job(svi, train, _test_data(spec, device), spec.transform, spec.train_context,
               _spec_evaluate(spec, svi, cfg), _spec_report(spec, svi, cfg))


def _test_data(spec: ModelSpec, device):
    def test():
        data = spec.test() if callable(spec.test) else spec.test
        if data is None:
            raise UsageError("the model's factory gives no test data (ModelSpec.test)")
        return tuple(t.to(device) for t in data)

    return test


def _batches(tensors: tuple, size: int):
    n = tensors[0].shape[0]
    return [tuple(t[i : i + size] for t in tensors) for i in range(0, n, size)]


def _spec_evaluate(spec: ModelSpec, svi: LocalSVI, cfg: RunConfig):
    def evaluate(test):
        if spec.evaluate is not None:
            return dict(spec.evaluate(test, cfg.num_samples))
        # The engine's per-layer loss (minus each layer's ELBO, scaled as the model
        # scales it), averaged over test batches.
        totals, batches = {}, _batches(test, cfg.batch_size)
        for batch in batches:
            for layer, value in svi.evaluate(*batch).layer_losses.items():
                totals[layer] = totals.get(layer, 0.0) + value / len(batches)
        return {"test_loss": sum(totals.values()), "test_loss_layers": totals}

    return evaluate


def _spec_report(spec: ModelSpec, svi: LocalSVI, cfg: RunConfig):
    """The report's data: draws from the guide on up to ``report_points`` training
    examples (transformed as in training) for k-hat and LOO, the history, and what
    the spec's own ``report`` adds."""

    def report(train, test, metrics):
        from .. import diagnostics as diag

        parts = {"history": svi.history}
        model, guide = (svi.net.model, svi.net.guide) if svi.net is not None else (
            svi.model, svi.guide)
        if guide is not None:
            n = min(cfg.report_points, train[0].shape[0])
            subset = [t[:n] for t in train]
            if spec.transform is not None:
                generator = torch.Generator(device=subset[0].device).manual_seed(cfg.seed)
                subset[0] = spec.transform(subset[0], generator)
            parts["idata"] = diag.to_inference_data(
                model, guide, *subset, num_samples=cfg.report_draws,
                obs_sites=spec.obs_sites, history=svi.history, parallel=spec.vectorized,
                chunk_size=10 if spec.vectorized else None)
        if spec.report is not None:
            parts.update(spec.report(train, test, cfg.num_samples))
        return parts

    return report


def _recipe_job(cfg: RunConfig, device) -> Job:
    from .classifier import classifier_hooks

    if cfg.lr is None:
        cfg.lr = DEFAULT_LR
    recipe = get_recipe(cfg.recipe)

    def load(split):
        d = D.load(cfg.dataset, split, device=device, normalize="standardize",
                   flatten=recipe.flatten)
        return d.images, d.labels

    train = load("train")
    built = recipe.build(cfg, len(train[1]), device)
    return Job(built.svi, train, lambda: load("test"), None, built.train_context,
               *classifier_hooks(cfg, built))


def first_batch(job: Job, cfg: RunConfig) -> tuple:
    """The first training batch, as training sees it (transformed): for ``init``."""
    loader = D.TensorLoader(*job.train, batch_size=cfg.batch_size, seed=cfg.seed,
                            transform=job.transform)
    return next(iter(loader))


def load_checkpoint(job: Job, path, batch: tuple) -> dict:
    """Loads a run's checkpoint into ``job``'s engine (``batch`` initializes it), with
    one-line errors for a file that is not a checkpoint, or is another model's."""
    job.svi.init(*batch)
    try:
        return job.svi.load(path)
    except (ckpt.CheckpointError, FileNotFoundError) as e:
        raise UsageError(str(e)) from None
    except (ValueError, KeyError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"{path}: a checkpoint of another model, not of this run's "
                         f"({first})") from None

