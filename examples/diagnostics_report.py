"""Diagnose a small Bayesian neural network and write its HTML report.

A 2-16-3 ReLU network classifies three Gaussian blobs. Its weights have a mean-field
Normal guide (Pyro's ``AutoNormal``) trained with plain SVI; each layer's negative local
ELBO is recorded per step from one draw, as ``pyro_local.infer.LocalSVI`` would record
it. The script then exports the fit to ArviZ, reads PSIS k-hat and LOO, adds held-out
and out-of-distribution predictions, writes the InferenceData (netCDF) and the report
beside it, and prints the report's verdicts::

    python examples/diagnostics_report.py --out runs/diagnostics_example
"""

import argparse
import re
import time
from pathlib import Path

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.infer.autoguide import AutoNormal

from pyro_local import diagnostics as D

HIDDEN, CLASSES = 16, 3


def make_data(num_points, generator):
    centers = torch.tensor([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]])
    labels = torch.randint(CLASSES, (num_points,), generator=generator)
    x = centers[labels] + torch.randn(num_points, 2, generator=generator)
    return x, labels


def forward(x, w1, w2):
    return torch.relu(x @ w1) @ w2


def model(x, y=None):
    w1 = pyro.sample(
        "w1", dist.Normal(torch.zeros(2, HIDDEN), 1.0).to_event(2), infer={"layer": "hidden"}
    )
    w2 = pyro.sample(
        "w2", dist.Normal(torch.zeros(HIDDEN, CLASSES), 1.0).to_event(2), infer={"layer": "output"}
    )
    with pyro.plate("data", x.shape[0]):
        pyro.sample("y", dist.Categorical(logits=forward(x, w1, w2)), obs=y)


def train(x, y, steps, lr):
    guide = AutoNormal(model, init_scale=0.05)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": lr}), Trace_ELBO())
    history = {}
    for _ in range(steps):
        svi.step(x, y)
        # One draw's per-layer log p - log q: an estimate of each layer's local ELBO.
        draws = D.collect_draws(model, guide, x, y, num_samples=1)
        for layer in draws.log_joint:
            loss = -(draws.log_joint[layer] - draws.log_q[layer]).item()
            history.setdefault(layer, []).append(loss)
    return guide, history


def predictive_probs(idata, x):
    w1 = torch.as_tensor(idata.posterior["w1"].values[0])
    w2 = torch.as_tensor(idata.posterior["w2"].values[0])
    return torch.softmax(forward(x, w1, w2), -1)  # (draws, points, classes)


def main(args):
    torch.set_num_threads(1)
    pyro.set_rng_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    x, y = make_data(300, generator)
    x_test, y_test = make_data(1000, generator)
    x_ood = 6.0 * torch.randn(1000, 2, generator=generator) + torch.tensor([0.0, -8.0])

    start = time.perf_counter()
    guide, history = train(x, y, args.steps, args.lr)
    trained = time.perf_counter()
    idata = D.to_inference_data(model, guide, x, y, num_samples=args.draws, history=history)
    # Held-out and out-of-distribution predictions from the same draws.
    D.add_held_out(idata, predictive_probs(idata, x_test).double(), y_test,
                   {"far away": predictive_probs(idata, x_ood).double()},
                   name="1000 new points from the blobs")
    provenance = D.provenance(dataset="three Gaussian blobs", sizes={"train": 300, "test": 1000},
                              seed=args.seed, training_seconds=trained - start)
    exported = time.perf_counter()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    D.save_netcdf(idata, out / "inference_data.nc")  # reopen with D.load_netcdf or ArviZ
    page = D.build_report(idata, config=vars(args), provenance=provenance,
                          title="Bayesian MLP on three blobs")
    path = D.write_report(out / "report.html", page)
    done = time.perf_counter()

    print(f"k-hat overall: {D.variational_khat(idata).overall}")
    print(D.variational_loo(idata))
    for line in re.findall(r'<li class="verdict (\w+)">.*?<b>(.*?)</b>: (.*?)</li>', page):
        print(f"[{line[0]}] {line[1]}: {re.sub('<[^>]+>', '', line[2])}")
    print(f"train {trained - start:.1f} s, export {exported - trained:.1f} s, "
          f"report {done - exported:.1f} s -> {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/diagnostics_example")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    main(parser.parse_args())
