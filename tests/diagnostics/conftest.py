"""A complete report's inputs and page, built once for the report tests."""

import pyro
import pyro.distributions as dist
import pytest
import torch

from pyro_local import diagnostics as D
from pyro_local.diagnostics.inference_data import concat_fits
from pyro_local.distributions import RectifiedNormal

from .conjugate import LinearRegression, NormalMeans

REPORT_TITLES = [
    "Summary", "Held-out predictions", "Calibration", "Out-of-distribution detection",
    "Posterior predictive checks", "Optimisation", "Pareto k-hat",
    "Leave-one-out cross-validation", "Posterior summary", "Weight posteriors",
    "Sparsity of rectified layers", "Simulation-based calibration", "Provenance",
    "Configuration",
]
#: Figures of that report: confusion, reliability, OOD, PPC histogram, LOO-PIT, history,
#: k-hat, LOO k-hat, weight spectra, sparsity, VSBC.
REPORT_FIGURES = 11


def report_model(problem):
    """The conjugate regression, a weight matrix the data do not inform (its guide is its
    prior) and a rectified latent vector, each in its own layer."""

    def model(X, y):
        problem.model(X, y)
        pyro.sample("W", dist.Normal(torch.zeros(20, 8, dtype=X.dtype), 1.0).to_event(2),
                    infer={"layer": "weights"})
        pyro.sample("z", RectifiedNormal(torch.zeros(30, dtype=X.dtype), 1.0).to_event(1),
                    infer={"layer": "rectified"})

    def guide_for(scale):
        regression = problem.guide(scale)

        def guide(X, y):
            regression(X, y)
            pyro.sample("W", dist.Normal(torch.zeros(20, 8, dtype=X.dtype), 1.0).to_event(2))
            loc = torch.linspace(-2, 1, 30, dtype=X.dtype)
            pyro.sample("z", RectifiedNormal(loc, 1.0).to_event(1))

        return guide

    return model, guide_for


def conjugate_vsbc(shift=0.0, scale=1.0, num_replications=60):
    """VSBC of the exact posterior of a normal mean, shifted by ``shift`` posterior sds
    and with ``scale`` times its sd."""
    problem = NormalMeans(dim=1, num_data=5, prior_scale=1.0)

    def fit(model, y):
        simulated = pyro.poutine.trace(model).get_trace(y).nodes["mu_y"]["value"]
        mean = simulated.sum(0) / problem.sigma**2 * problem.post_scale**2
        loc = mean + shift * problem.post_scale

        def guide(y):
            with pyro.plate("mu_groups", 1):
                pyro.sample("mu", dist.Normal(loc, scale * problem.post_scale))

        return guide

    return D.vsbc(problem.model, fit, problem.y, num_replications=num_replications,
                  num_samples=400, parallel=True)


def _report_inputs():
    pyro.set_rng_seed(0)
    problem = LinearRegression(layer="regression")
    X, y = problem.tensors()
    model, guide_for = report_model(problem)
    history = {"regression": torch.linspace(10, 1, 30).tolist(), "weights": [5.0] * 30}
    fits = [
        D.to_inference_data(model, guide_for(scale), X, y, num_samples=300, parallel=True,
                            max_site_size=10, history=history)
        for scale in (1.0, 1.3)
    ]
    idata = concat_fits(fits)
    draw_probs = torch.softmax(2 * torch.randn(20, 300, 5, dtype=torch.float64), -1)
    labels = torch.multinomial(draw_probs.mean(0), 1).squeeze(-1)
    noise = torch.softmax(0.3 * torch.randn(20, 200, 5, dtype=torch.float64), -1)
    D.add_held_out(idata, draw_probs, labels, {"noise": noise})
    return {
        "idata": idata,
        "vsbc": conjugate_vsbc(),
        "provenance": D.provenance(dataset="conjugate regression", seed=0),
        "config": {"optimizer": {"name": "adam", "lr": 1e-3}, "note": "<script>x</script>"},
    }


@pytest.fixture(scope="session")
def report_inputs():
    return _report_inputs()


@pytest.fixture(scope="session")
def report_page(report_inputs):
    """The HTML of a report with every section."""
    return D.build_report(**report_inputs, title="test run")
