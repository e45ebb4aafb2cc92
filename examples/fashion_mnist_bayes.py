"""Bayesian LeNet-5 and MLP on Fashion-MNIST: matrix-normal, mean-field, AutoNormal
and deterministic weights, with accuracy, NLL, ECE, Brier score and out-of-distribution
AUROC.

Guides (``--guide``):

- ``matrix_normal``: :class:`~pyro_local.guides.AutoMatrixNormal` (Louizos & Welling
  2016), closed-form KL, local reparameterization in training;
- ``mean_field``: :class:`~pyro_local.guides.AutoMeanFieldNormal`, closed-form KL, local
  reparameterization in training;
- ``auto_normal``: Pyro's ``AutoNormal`` (Monte Carlo KL, one weight sample per batch);
- ``deterministic``: Pyro's ``AutoDelta``, a point estimate (MAP under the same prior,
  i.e. weight decay).

All four train the same model with :class:`~pyro_local.infer.LocalSVI` (one global
ELBO, or ``--training local`` for per-layer ELBOs with linear heads), Adam, batch 100
and an exponential moving average of the parameters for evaluation, as in the paper.
Evaluation draws whole weight matrices (vectorized ``Predictive``) unless
``--predict-local``. Out-of-distribution inputs: the test images flipped upside down,
and uniform noise images; the score is the predictive entropy.

Examples::

    python examples/fashion_mnist_bayes.py --arch lenet5 --guide matrix_normal --epochs 20
    python examples/fashion_mnist_bayes.py --quick     # a smoke run on the shipped subset
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import time
from pathlib import Path

import pyro
import torch
from pyro.infer.autoguide import AutoDelta, AutoNormal
from tqdm import tqdm

from pyro_local import diagnostics as D
from pyro_local.data import TensorLoader, load
from pyro_local.diagnostics.calibration import negative_log_likelihood
from pyro_local.diagnostics.classification import ood_images
from pyro_local.guides import (
    PAPER_INIT,
    AutoMatrixNormal,
    AutoMeanFieldNormal,
    InitScales,
    init_to_pytorch,
)
from pyro_local.infer import LocalELBO, LocalSVI
from pyro_local.infer.averaging import ParameterEMA
from pyro_local.models import BayesianClassifier, bayes_lenet5, bayes_mlp, predictive_probs
from pyro_local.nn import GreedyHeads, MatrixNormalPrior, local_net, local_reparameterization

GUIDES = ("matrix_normal", "mean_field", "auto_normal", "deterministic")
LOCAL_GUIDES = ("matrix_normal", "mean_field")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", choices=("lenet5", "mlp"), default="lenet5")
    p.add_argument("--guide", choices=GUIDES, default="matrix_normal")
    p.add_argument(
        "--structure",
        default="diagonal",
        help="matrix-normal structure: diagonal, low_rank or dense",
    )
    p.add_argument("--rank", type=int, default=2, help="rank of low-rank factors")
    p.add_argument(
        "--pseudo-data", type=int, default=0, help="pseudo-data points per dense layer"
    )
    p.add_argument(
        "--pseudo-data-conv",
        type=int,
        default=0,
        help="pseudo-data points per convolution (each costs a convolution with that many "
        "output channels per step)",
    )
    p.add_argument(
        "--init",
        choices=("default", "paper"),
        default="default",
        help="default: every weight posterior starts at a prior draw with --init-scale "
        "times its prior's standard deviation; paper: Louizos & Welling's initialisation "
        "(matrix-normal and mean-field guides only; needs ~100 epochs)",
    )
    p.add_argument(
        "--init-scale",
        type=float,
        default=0.1,
        help="--init default: initial posterior std of a weight relative to its prior's",
    )
    p.add_argument(
        "--param",
        choices=("standard", "fan-in"),
        default="standard",
        help="standard: pre-activations [a, 1] W (the default); fan-in: the paper's "
        "[a, 1] W / sqrt(n) with the prior MN(0, I, I) on those weights",
    )
    p.add_argument(
        "--prior-scale",
        default="1.0",
        help="--param standard: prior std of the weights, a float or fan_in (1/sqrt(n): "
        "the paper's prior)",
    )
    p.add_argument(
        "--auto-normal-init-scale",
        type=float,
        default=0.01,
        help="initial posterior std of AutoNormal (absolute)",
    )
    p.add_argument("--channels", type=int, nargs=2, default=(6, 16), help="LeNet-5 channels")
    p.add_argument(
        "--hidden",
        type=int,
        nargs="+",
        default=None,
        help="dense hidden sizes (default 120 84 for lenet5, 400 400 for mlp)",
    )
    p.add_argument(
        "--training",
        choices=("global", "local"),
        default="global",
        help="one ELBO, or per-layer ELBOs with linear heads (LocalSVI)",
    )
    p.add_argument("--mode", choices=("fused", "sequential"), default="fused")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--ema", type=float, default=0.999, help="parameter EMA decay (0: off)")
    p.add_argument("--num-samples", type=int, default=20, help="posterior draws at test time")
    p.add_argument(
        "--ood-size",
        type=int,
        default=2000,
        help="images in each out-of-distribution set (and their in-distribution "
        "counterparts for the AUROC)",
    )
    p.add_argument(
        "--eval-every",
        type=int,
        default=0,
        help="every N epochs, test accuracy and NLL on 2000 test images with 4 draws",
    )
    p.add_argument(
        "--predict-local",
        action="store_true",
        help="draw test predictions under local reparameterization",
    )
    p.add_argument("--train-size", type=int, default=None, help="use the first N training images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: shipped subset, 1 epoch, small network, 2 draws",
    )
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    return p.parse_args(argv)


def make_stack(args):
    kwargs = {"pseudo_data": args.pseudo_data}
    if args.param == "fan-in":
        kwargs.update(input_scale="fan_in", prior=MatrixNormalPrior(row_scale=1.0))
    else:
        scale = args.prior_scale if args.prior_scale == "fan_in" else float(args.prior_scale)
        kwargs.update(prior=MatrixNormalPrior(row_scale=scale))
    if args.arch == "lenet5":
        hidden = args.hidden or (120, 84)
        conv = {"pseudo_data": args.pseudo_data_conv}
        return bayes_lenet5(
            (1, 28, 28), tuple(args.channels), tuple(hidden), 10, conv_kwargs=conv, **kwargs
        )
    hidden = args.hidden or (400, 400)
    return bayes_mlp(784, tuple(hidden), 10, **kwargs)


def guide_builder(args):
    """The guide class with its initialisation: the library's default (a prior draw,
    posterior std ``--init-scale`` times the prior's), or the paper's."""
    if args.init == "paper":
        init = {"init_scales": PAPER_INIT}
    else:
        init = {"init_scales": InitScales.relative(args.init_scale)}
    if args.guide == "matrix_normal":
        return functools.partial(AutoMatrixNormal, structure=args.structure, rank=args.rank, **init)
    if args.guide == "mean_field":
        return functools.partial(AutoMeanFieldNormal, **init)
    if args.init == "paper":
        raise SystemExit("--init paper is defined for the matrix_normal and mean_field guides")
    if args.guide == "auto_normal":
        return functools.partial(
            AutoNormal, init_loc_fn=init_to_pytorch, init_scale=args.auto_normal_init_scale
        )
    return functools.partial(AutoDelta, init_loc_fn=init_to_pytorch)


def build(args, num_data):
    """``(svi, model, guide)``: ``model`` and ``guide`` are the whole network's."""
    stack = make_stack(args)
    builder = guide_builder(args)
    loss = LocalELBO()
    optim_args = {"lr": args.lr}
    if args.training == "local":
        net = local_net(stack, GreedyHeads("linear"), num_data=num_data, guide_builder=builder)
        svi = LocalSVI(net, loss=loss, optim_args=optim_args, mode=args.mode)
        return svi, net.model, net.guide
    model = BayesianClassifier(stack, num_data)
    guide = builder(model)
    return LocalSVI(model, guide, loss=loss, optim_args=optim_args), model, guide


def load_data(args):
    name = "fashion-mnist-small" if args.quick else "fashion-mnist"
    flatten = args.arch == "mlp"
    train = load(name, "train", normalize="standardize", flatten=flatten)
    test = load(name, "test", normalize="standardize", flatten=flatten)
    x, y = train.images, train.labels
    if args.train_size:
        x, y = x[: args.train_size], y[: args.train_size]
    return x, y, test.images, test.labels


def evaluate(model, guide, args, x_test, y_test, ood):
    num_samples = 1 if args.guide == "deterministic" else args.num_samples
    predict = functools.partial(
        predictive_probs,
        model,
        guide,
        num_samples=num_samples,
        local=args.predict_local,
        parallel=args.training == "global",  # LocalNet.guide: sequential draws only
    )
    ood_draws = {name: predict(x_out) for name, x_out in ood.items()}
    return D.classifier_metrics(predict(x_test), y_test, ood_draws, num_bins=15)


def main(argv=None):
    args = parse_args(argv)
    if args.quick:
        args.epochs, args.num_samples = 1, 2
        if args.hidden is None:
            args.hidden = (32,) if args.arch == "mlp" else (32, 16)
    torch.set_num_threads(args.threads)
    pyro.set_rng_seed(args.seed)
    pyro.enable_validation(False)
    x, y, x_test, y_test = load_data(args)
    svi, model, guide = build(args, num_data=x.shape[0])
    loader = TensorLoader(x, y, batch_size=args.batch_size, seed=args.seed)
    use_local = args.guide in LOCAL_GUIDES
    handler = local_reparameterization if use_local else contextlib.nullcontext
    if (args.pseudo_data or args.pseudo_data_conv) and not (use_local and args.predict_local):
        raise SystemExit("--pseudo-data needs --guide matrix_normal and --predict-local")

    with handler():  # layers with pseudo-data run only under the handler
        svi.init(x[: args.batch_size], y[: args.batch_size])
    modules = [m for m in (svi.model, svi.guide) if isinstance(m, torch.nn.Module)]
    params = [p for m in modules for p in m.parameters()]
    ema = ParameterEMA(params, args.ema) if args.ema > 0 else None
    epoch_times, losses, curve = [], [], []
    for epoch in range(args.epochs):
        start, total = time.perf_counter(), 0.0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{args.epochs}", leave=False)
        for xb, yb in bar:
            with handler():
                info = svi.step(xb, yb)
            if ema is not None:
                ema.update()
            total += info.loss
            bar.set_postfix(loss=f"{info.loss / x.shape[0]:.4f}")
        epoch_times.append(time.perf_counter() - start)
        losses.append(total / len(loader) / x.shape[0])
        print(
            f"epoch {epoch + 1}: -ELBO per datum {losses[-1]:.4f}, {epoch_times[-1]:.1f} s",
            flush=True,
        )
        if args.eval_every and (epoch + 1) % args.eval_every == 0:
            with ema.swapped() if ema is not None else contextlib.nullcontext():
                probs = predictive_probs(
                    model,
                    guide,
                    x_test[:2000],
                    num_samples=4,
                    local=args.predict_local,
                    parallel=args.training == "global",
                ).mean(0)
            point = {
                "epoch": epoch + 1,
                "accuracy": float((probs.argmax(-1) == y_test[:2000]).double().mean()),
                "nll": float(negative_log_likelihood(probs, y_test[:2000])),
            }
            curve.append(point)
            print(
                f"  test[:2000], 4 draws: accuracy {point['accuracy']:.4f}, NLL {point['nll']:.4f}",
                flush=True,
            )

    start = time.perf_counter()
    ood = ood_images(x_test[: args.ood_size], seed=args.seed)
    with ema.swapped() if ema is not None else contextlib.nullcontext():
        metrics = evaluate(model, guide, args, x_test, y_test, ood)
    if ema is not None:  # the last iterate, for what the average buys
        last = evaluate(model, guide, args, x_test, y_test, {})
        metrics["last_iterate"] = {k: last[k] for k in ("accuracy", "nll", "ece")}
    result = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "train_size": x.shape[0],
        "epoch_seconds": epoch_times,
        "eval_seconds": time.perf_counter() - start,
        "neg_elbo_per_datum": losses,
        "curve": curve,
        **metrics,
    }
    print(json.dumps({k: v for k, v in result.items() if k != "config"}, indent=1))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    if not all(math.isfinite(v) for v in losses):
        raise SystemExit("training diverged (non-finite loss)")
    return result


if __name__ == "__main__":
    main()
