"""Did the variational fit work? Simulation-based calibration of a Bayesian logistic
regression fitted with Pyro's ``AutoNormal`` (Yao et al. 2018, "Yes, but did it work?").

The fitting procedure (SVI with a mean-field guide, a fixed number of steps) is run on
data sets simulated from the prior; the guide's quantiles of the true coefficients must
be symmetric about 1/2 for the fit to be unbiased, and uniform for it to be calibrated.
The script also fits the model to one data set, exports it, and writes a report with
the simulation-based calibration section and the fit's own diagnostics::

    python examples/vsbc_logistic.py --out runs/vsbc_logistic
    python examples/vsbc_logistic.py --quick      # 20 replications, a smoke run
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


def model(x, y):
    w = pyro.sample("w", dist.Normal(torch.zeros(x.shape[1]), 1.0).to_event(1))
    b = pyro.sample("b", dist.Normal(0.0, 1.0))
    with pyro.plate("data", x.shape[0]):
        pyro.sample("y", dist.Bernoulli(logits=x @ w + b), obs=y)


def fitter(steps, lr, history=None):
    """The fitting procedure VSBC checks: a fresh AutoNormal, ``steps`` steps of SVI."""

    def fit(conditioned, x, y):
        pyro.clear_param_store()
        guide = AutoNormal(conditioned)
        svi = SVI(conditioned, guide, pyro.optim.Adam({"lr": lr}), Trace_ELBO())
        for _ in range(steps):
            loss = svi.step(x, y)
            if history is not None:
                history.setdefault("model", []).append(loss)
        return guide

    return fit


def main(args):
    torch.set_num_threads(1)
    pyro.set_rng_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.points, 3, generator=g)
    y = torch.bernoulli(torch.sigmoid(x @ torch.tensor([1.0, -0.5, 0.0]) + 0.3), generator=g)

    start = time.perf_counter()
    replications = 20 if args.quick else args.replications
    result = D.vsbc(model, fitter(args.steps, args.lr), x, y, num_replications=replications,
                    num_samples=1000, seed=args.seed, progress=not args.no_progress)
    checked = time.perf_counter()

    history = {}
    guide = fitter(args.steps, args.lr, history)(model, x, y)
    idata = D.to_inference_data(model, guide, x, y, num_samples=1000, history=history)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    D.save_netcdf(idata, out / "inference_data.nc")
    provenance = D.provenance(dataset="simulated logistic regression", seed=args.seed,
                              sizes={"points": args.points, "VSBC replications": replications})
    page = D.build_report(idata, vsbc=result, config=vars(args), provenance=provenance,
                          title="Bayesian logistic regression: did the fit work?")
    path = D.write_report(out / "report.html", page)

    for site, (uniform, symmetric) in result.tests().items():
        print(f"{site}: KS p-value uniform {uniform.round(3)}, symmetric {symmetric.round(3)}")
    print(f"VSBC verdict: {result.verdict()} ({replications} replications, "
          f"{checked - start:.0f} s)")
    print(f"k-hat of the fit to the data: {D.variational_khat(idata).overall}")
    print(f"report: {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/vsbc_logistic")
    parser.add_argument("--points", type=int, default=50, help="data points per data set")
    parser.add_argument("--replications", type=int, default=60)
    parser.add_argument("--steps", type=int, default=200, help="SVI steps per fit")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="20 replications")
    parser.add_argument("--no-progress", action="store_true")
    main(parser.parse_args())
