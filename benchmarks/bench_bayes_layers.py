"""Time one training step of Bayesian networks with each guide on CPU.

A step is a forward and backward pass of the ELBO (``LocalSVI``, one global layer) and
an Adam update, on a batch of 100 Fashion-MNIST-sized inputs. Guides: the matrix normal
(diagonal, low-rank and, for the MLP only, dense rows) and the mean-field Normal under
local reparameterization, each also with whole sampled weights; Pyro's ``AutoNormal``;
and ``AutoDelta`` (a deterministic network). Prints median milliseconds per step and
writes JSON. A script, not a test::

    python benchmarks/bench_bayes_layers.py --threads 2 --out bench_bayes.json
"""

import argparse
import contextlib
import functools
import json
import statistics
import time

import pyro
import torch
from pyro.infer.autoguide import AutoDelta, AutoNormal, init_to_sample

from pyro_local.guides import AutoMatrixNormal, AutoMeanFieldNormal
from pyro_local.infer import LocalSVI
from pyro_local.models.architectures import BayesianLeNet5, BayesianMLP
from pyro_local.nn import local_reparameterization

GUIDES = {
    "matrix_normal (diagonal)": functools.partial(AutoMatrixNormal, structure="diagonal"),
    "matrix_normal (low_rank 8)": functools.partial(AutoMatrixNormal, structure="low_rank", rank=8),
    "matrix_normal (dense rows)": functools.partial(
        AutoMatrixNormal, structure=("dense", "diagonal")
    ),
    "mean_field": AutoMeanFieldNormal,
    "auto_normal": functools.partial(AutoNormal, init_loc_fn=init_to_sample),
    "deterministic": functools.partial(AutoDelta, init_loc_fn=init_to_sample),
}


def make(arch):
    if arch == "mlp":
        return BayesianMLP(784, [400, 400], 10, num_data=60000), torch.randn(100, 784)
    return BayesianLeNet5(num_data=60000), torch.randn(100, 1, 28, 28)


def time_steps(arch, guide_name, local, steps, warmup):
    pyro.set_rng_seed(0)
    model, x = make(arch)
    y = torch.randint(0, 10, (x.shape[0],))
    svi = LocalSVI(model, GUIDES[guide_name](model), optim_args={"lr": 1e-3})
    handler = local_reparameterization if local else contextlib.nullcontext
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        with handler():
            svi.step(x, y)
        if i >= warmup:
            times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pyro.enable_validation(False)
    rows = []
    for arch in ("mlp", "lenet5"):
        for name in GUIDES:
            if arch == "lenet5" and "dense" in name:
                continue  # conv2's 401 x 401 row factor: not the use case
            variants = (
                [True, False] if name in ("mean_field",) or name.startswith("matrix") else [False]
            )
            for local in variants:
                ms = time_steps(arch, name, local, args.steps, args.warmup)
                rows.append({"arch": arch, "guide": name, "local_reparam": local, "ms": ms})
                mode = "local reparam." if local else "whole weights"
                print(f"{arch:7s} {name:28s} {mode:15s} {ms:8.1f} ms/step", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"threads": args.threads, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
