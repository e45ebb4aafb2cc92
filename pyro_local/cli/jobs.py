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
class Posterior:
    """
    What a model's report draws from: its whole model and guide, the observed sites
    whose pointwise log-likelihood it scores, and whether model and guide broadcast
    over a leading sample dimension (then many draws are made at once).
    """

    model: Callable
    guide: Callable
    obs_sites: list | None = None
    vectorized: bool = False


@dataclass
class Job:
    """
    A model ready to train or use.

    :param LocalSVI svi: its engine.
    :param tuple train: the training tensors (examples along the first dimension).
    :param callable test: ``() -> tuple`` of test tensors, or ``None`` (no test data).
    :param callable transform: applied to each training batch's first tensor.
    :param callable train_context: ``() -> context manager`` around training.
    :param callable evaluate: ``(test) -> {metric: value}``.
    :param callable report: ``(idata, test, sizes, progress) -> (metrics, keywords)``:
        adds what the held-out data ``test`` give to the report's InferenceData
        ``idata``, may record the sizes it used in the dict ``sizes``, and returns the
        test metrics and further keywords of
        :func:`~pyro_local.diagnostics.build_report`.
    :param Posterior posterior: what the report draws from, or ``None`` for a network
        without latent variables to guide.
    """

    svi: LocalSVI
    train: tuple
    test: Callable
    transform: Callable | None
    train_context: Callable
    evaluate: Callable
    report: Callable
    posterior: Posterior | None = None

    def eval(self):
        """For ``evaluate`` and ``report``: the parameters' averages in place where the
        engine keeps them (the Bayesian recipes do), modules in eval mode."""
        average = getattr(self.svi, "average", None)
        if average is not None:
            average.copy_to()
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
    and a recipe's ``cfg.hidden`` when they are ``None`` (the model's defaults)."""
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
    evaluate = _spec_evaluate(spec, svi, cfg)
    return Job(svi, train, _test_data(spec, device), spec.transform, spec.train_context,
               evaluate, _spec_report(spec, evaluate, train, cfg), _spec_posterior(spec, svi))


def _test_data(spec: ModelSpec, device):
    def test():
        data = spec.test() if callable(spec.test) else spec.test
        return None if data is None else tuple(t.to(device) for t in data)

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


def _spec_posterior(spec: ModelSpec, svi: LocalSVI) -> Posterior | None:
    model, guide = (svi.net.model, svi.net.guide) if svi.net is not None else (
        svi.model, svi.guide)
    if guide is None:
        return None
    return Posterior(model, guide, spec.obs_sites, spec.vectorized)


def _spec_report(spec: ModelSpec, evaluate, train: tuple, cfg: RunConfig):
    """The report's held-out part for a factory's model: its test metrics (kept in the
    InferenceData, shown as a table) and the keywords the spec's own ``report`` adds."""

    def report(idata, test, sizes, progress):
        from ..diagnostics.provenance import METRICS_ATTR, attach

        metrics = evaluate(test)
        attach(idata, METRICS_ATTR, metrics)
        keywords = dict(spec.report(train, test, cfg.num_samples)) if spec.report else {}
        return metrics, keywords

    return report


def _recipe_job(cfg: RunConfig, device) -> Job:
    from .classifier import classifier_hooks

    if cfg.lr is None:
        cfg.lr = DEFAULT_LR
    recipe = get_recipe(cfg.recipe)
    if cfg.hidden is None and "hidden" in recipe.uses:  # the model's own widths
        cfg.hidden = list(recipe.hidden)

    def load(split):
        d = D.load(cfg.dataset, split, device=device, normalize="standardize",
                   flatten=recipe.flatten)
        return d.images, d.labels

    train = load("train")
    built = recipe.build(cfg, len(train[1]), device)
    posterior = None if built.guide is None else Posterior(built.model, built.guide,
                                                           [built.label_site])
    return Job(built.svi, train, lambda: load("test"), None, built.train_context,
               *classifier_hooks(cfg, built), posterior)


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

