"""The models the command line can train: recipes that build a network and its engine."""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..data.catalog import get_info
from ..infer import LocalSVI
from .config import EVAL_BATCH, RunConfig, UsageError


@dataclass
class Built:
    """
    A recipe's network, ready to train and to use.

    :param LocalSVI svi: the engine that trains it.
    :param callable train_context: ``() -> context manager`` around training steps
        (the local-reparameterization handler for Bayesian layers).
    :param callable predict: ``(x, num_samples) -> (S, N, C)`` class probabilities of
        the posterior predictive (``S = 1`` for networks without weight posteriors).
    :param model: the whole network as a Pyro model (for the diagnostics), or ``None``.
    :param guide: its guide, or ``None`` when the network has no guided latents.
    :param str label_site: the observed site of the network's prediction.
    """

    svi: LocalSVI
    train_context: Callable
    predict: Callable
    model: object = None
    guide: object = None
    label_site: str | None = None


@dataclass(frozen=True)
class Recipe:
    """
    A trainable model of the library.

    :param str name: its name on the command line.
    :param str summary: one line for ``pyro-local models``.
    :param tuple uses: the :class:`RunConfig` fields it reads, besides the common ones.
    :param bool flatten: whether it takes flat ``(N, height * width)`` images.
    :param callable build: ``(config, num_data, device) -> Built``.
    :param tuple hidden: its dense hidden widths when ``--hidden`` is not given.
    """

    name: str
    summary: str
    uses: tuple
    flatten: bool
    build: Callable
    hidden: tuple = ()


class _AveragedSVI(LocalSVI):
    """:class:`~pyro_local.infer.LocalSVI` that keeps an exponential moving average
    (0.999) of the parameters after every step, as the paper and
    ``examples/fashion_mnist_bayes.py`` do; checkpoints carry it and
    :meth:`~pyro_local.cli.jobs.Job.eval` puts it in place for ``evaluate`` and ``report``."""

    def __init__(self, *args, decay=0.999, **kwargs):
        super().__init__(*args, **kwargs)
        self.decay = decay
        self.average = None

    def _ensure_average(self):
        if self.average is None:
            from ..infer.averaging import ParameterEMA

            modules = [m for m in (self.model, self.guide) if isinstance(m, torch.nn.Module)]
            self.average = ParameterEMA([p for m in modules for p in m.parameters()], self.decay)
        return self.average

    def step(self, *args, **kwargs):
        info = super().step(*args, **kwargs)
        self._ensure_average().update()
        return info

    def state_dict(self) -> dict:
        return {**super().state_dict(), "average": self._ensure_average().state_dict()}

    def load_state_dict(self, state: dict) -> None:
        state = _renamed_local_layers(state, self.layers)
        saved = state.get("average")
        if saved is not None:  # all or nothing: the average is checked before any load
            self._ensure_average().check_state_dict(saved)
        super().load_state_dict(state)
        if saved is None:  # a checkpoint without one: the average starts from its parameters
            self.average = None
        else:
            self.average.load_state_dict(saved)


def _renamed_local_layers(state: dict, layers: tuple) -> dict:
    """A checkpoint of a Bayesian recipe trained locally by pyro-local 0.1 (layers
    ``"l1"``, ..., ``"lL"`` of the former ``models.local_classifier_net``) with the
    names of the same network built by :func:`~pyro_local.nn.local_net` (``"l1"``, ...,
    ``"output"``, whose module is ``classifier`` where it was ``block``); any other
    state is returned unchanged."""
    if not isinstance(state, dict) or not isinstance(state.get("layer_params"), dict):
        return state
    old = tuple(state["layer_params"])
    last = f"l{len(layers)}"
    if layers[-1:] != ("output",) or old != (*layers[:-1], last):
        return state

    def param(name):
        name = name.replace(f"{last}_guide.posteriors.{last}.block.",
                            "output_guide.posteriors.output.classifier.")
        if name.startswith((f"{last}.block.", f"net.{last}.block.")):
            name = name.replace(f"{last}.block.", "output.classifier.", 1)
        return name

    def layer(name):
        return "output" if name == last else name

    return {
        **state,
        "layer_params": {layer(k): [param(p) for p in v] for k, v in state["layer_params"].items()},
        "modules": {k: type(m)((param(p), t) for p, t in m.items())
                    for k, m in state["modules"].items()},
        "optimizers": {layer(k): v for k, v in state["optimizers"].items()},
        "history": {layer(k): v for k, v in state["history"].items()},
    }


def _bayes_build(stack_fn, cfg: RunConfig, num_data: int, device) -> Built:
    from ..guides import AutoMatrixNormal, AutoMeanFieldNormal
    from ..models import BayesianClassifier, predictive_probs
    from ..nn import GreedyHeads, local_net, local_reparameterization
    from ..nn.network import site_name

    # The library's defaults: standard parametrization, prior MN(0, I, I), posteriors
    # starting at PyTorch's initialisation with std 0.1 of the layer's weight unit.
    if cfg.structure == "mean-field":
        builder = AutoMeanFieldNormal
    elif cfg.structure in ("diagonal", "low_rank", "dense"):
        builder = functools.partial(AutoMatrixNormal, structure=cfg.structure)
    else:
        raise UsageError("--structure: expected diagonal, low_rank, dense or mean-field, "
                         f"got {cfg.structure!r}")
    stack = stack_fn(cfg)
    if cfg.training == "local":
        # every block a Bayesian layer with a linear head on its output, the last
        # block's output the logits (layer "output")
        net = local_net(stack, GreedyHeads("linear"), num_data=num_data,
                        guide_builder=builder).to(device)
        svi = _AveragedSVI(net, mode=cfg.mode, optim_args={"lr": cfg.lr})
        model, guide, last = net.model, net.guide, site_name(net.names[-1], "y")
    else:
        if cfg.mode != "fused":
            raise UsageError("--mode sequential needs --training local")
        model = BayesianClassifier(stack, num_data).to(device)
        guide = builder(model)
        svi = _AveragedSVI(model, guide, optim_args={"lr": cfg.lr})
        last = "y"

    def predict(x, num_samples):
        # LocalNet.guide runs the layers inside it: draws one at a time.
        return predictive_probs(model, guide, x, num_samples=num_samples,
                                parallel=cfg.training == "global")

    return Built(svi, local_reparameterization, predict, model, guide, last)


def _images(cfg) -> tuple[tuple[int, int, int], int]:
    """The ``(channels, height, width)`` of the run's dataset's images and its number of
    classes (the catalog's datasets are grayscale: one channel)."""
    info = get_info(cfg.dataset)
    return (1, *info.image_shape), info.num_classes


def _mlp(cfg):
    from ..models import bayes_mlp

    shape, num_classes = _images(cfg)
    return bayes_mlp(math.prod(shape), tuple(cfg.hidden), num_classes)


def _lenet5(cfg):
    from ..models import bayes_lenet5

    shape, num_classes = _images(cfg)
    return bayes_lenet5(shape, (6, 16), tuple(cfg.hidden), num_classes)


def _smallconv_build(cfg: RunConfig, num_data: int, device) -> Built:
    from ..models import small_conv
    from ..nn import LLS, SVP, ContSup, GreedyHeads, backprop_net, local_net, predict

    rules = {
        "svp": lambda: (SVP(), None),
        "lls": lambda: (LLS("cosine"), None),
        # "greedy" and "contsup" keep the linear heads they were saved with; the conv
        # heads (GreedyHeads' default, the better rule: docs/results.md 3.2) are new names.
        "greedy": lambda: (GreedyHeads("linear"), None),
        "contsup": lambda: (GreedyHeads("linear"), ContSup(input=True)),
        "greedy-conv": lambda: (GreedyHeads("conv"), None),
        "contsup-conv": lambda: (GreedyHeads("conv"), ContSup(input=True)),
    }
    torch.manual_seed(cfg.seed)
    (channels, height, _), num_classes = _images(cfg)
    stack = small_conv(channels, num_classes, image_size=height)
    if cfg.rule == "backprop":
        net = backprop_net(stack)
    elif cfg.rule in rules:
        net = local_net(stack, *rules[cfg.rule](), seed=cfg.seed)
    else:
        raise UsageError(f"--rule: expected one of {sorted([*rules, 'backprop'])}, "
                         f"got {cfg.rule!r}")
    net = net.to(device)
    svi = LocalSVI(net, mode=cfg.mode, optim_args={"lr": cfg.lr})

    @torch.no_grad()
    def probs(x, num_samples):
        out = [predict(net, x[i : i + EVAL_BATCH]).softmax(-1)
               for i in range(0, len(x), EVAL_BATCH)]
        return torch.cat(out).unsqueeze(0)  # a point estimate: one "draw"

    return Built(svi, contextlib.nullcontext, probs)


RECIPES = {
    r.name: r
    for r in [
        Recipe("bayes-mlp",
               "Bayesian MLP (784-200-10 unless --hidden) with matrix-normal weight "
               "posteriors (Louizos & Welling 2016), local per-layer ELBOs with linear "
               "heads by default",
               ("hidden", "structure", "training", "mode", "num_samples"), True,
               functools.partial(_bayes_build, _mlp), hidden=(200,)),
        Recipe("bayes-lenet5",
               "Bayesian LeNet-5 (6-16 conv, 120-84 dense unless --hidden) with "
               "matrix-normal weight posteriors",
               ("hidden", "structure", "training", "mode", "num_samples"), False,
               functools.partial(_bayes_build, _lenet5), hidden=(120, 84)),
        Recipe("local-smallconv",
               "LLS's SmallConv trained with a local rule (svp, lls, greedy, contsup; "
               "greedy-conv and contsup-conv with conv heads) or backprop",
               ("rule", "mode"), False, _smallconv_build),
    ]
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise UsageError(f"--model: expected one of {sorted(RECIPES)}, got {name!r}")
    return RECIPES[name]
