"""Diagnose a small Bayesian neural network and write its HTML report.

A 2-16-3 ReLU network classifies three Gaussian blobs. Its weights have a mean-field
Normal guide (Pyro's ``AutoNormal``) trained with plain SVI; each layer's negative local
ELBO is recorded per step from one draw, as ``pyro_local.infer.LocalSVI`` would record
it. The script then exports the fit to ArviZ, reads PSIS k-hat and LOO, measures
calibration and out-of-distribution detection, and writes the report::

    python examples/diagnostics_report.py --out runs/diagnostics_example
"""

import argparse
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
    w1 = pyro.sample("w1", dist.Normal(torch.zeros(2, HIDDEN), 1.0).to_event(2),
                     infer={"layer": "hidden"})
    w2 = pyro.sample("w2", dist.Normal(torch.zeros(HIDDEN, CLASSES), 1.0).to_event(2),
                     infer={"layer": "output"})
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
    idata = D.to_inference_data(model, guide, x, y, num_samples=args.draws, history=history,
                                attrs={"seed": args.seed, "steps": args.steps})
    exported = time.perf_counter()

    draw_probs = predictive_probs(idata, x_test)
    calibration = D.calibration_summary(draw_probs.mean(0).double(), y_test)
    mi_in = D.mutual_information(draw_probs.double())
    mi_out = D.mutual_information(predictive_probs(idata, x_ood).double())
    hidden = torch.relu(x_test @ torch.as_tensor(idata.posterior["w1"].values[0]))
    sd = {name: getattr(guide.scales, name).detach() for name in ("w1", "w2")}
    weight_scales = {  # root-mean-square posterior sd of each row and column
        name: (s.pow(2).mean(1).sqrt(), s.pow(2).mean(0).sqrt()) for name, s in sd.items()
    }
    khat = D.variational_khat(idata)
    loo = D.variational_loo(idata)
    page = D.build_report(
        idata,
        calibration=calibration,
        ood=(mi_in, mi_out, "mutual information (nats)"),
        weight_scales=weight_scales,
        sparsity={"hidden": float((hidden == 0).double().mean())},
        config=vars(args),
        title="Bayesian MLP on three blobs",
    )
    path = D.write_report(Path(args.out) / "report.html", page)
    done = time.perf_counter()

    print(f"k-hat overall: {khat.overall}")
    for layer, result in khat.layers.items():
        print(f"  {layer}: k-hat {result.khat:.2f} ({result.reading.value})")
    print(loo)
    print(f"accuracy {calibration.accuracy:.3f}, NLL {calibration.nll:.3f}, "
          f"ECE {calibration.ece:.3f}, OOD AUROC (MI) {D.ood_auroc(mi_in, mi_out):.3f}")
    print(f"train {trained - start:.1f} s, export {exported - trained:.1f} s, "
          f"diagnostics and report {done - exported:.1f} s -> {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/diagnostics_example")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    main(parser.parse_args())
