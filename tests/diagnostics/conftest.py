"""A complete report's inputs and page, built once for the report tests."""

import pyro
import pytest
import torch

from pyro_local import diagnostics as D

from .conjugate import LinearRegression

REPORT_TITLES = [
    "Optimisation history", "Pareto k-hat", "Leave-one-out cross-validation", "Calibration",
    "Out-of-distribution detection", "Posterior predictive checks", "Weight posteriors",
    "Sparsity of rectified layers", "Configuration",
]


def _report_inputs():
    pyro.set_rng_seed(0)
    problem = LinearRegression(layer="regression")
    X, y = problem.tensors()
    history = {"regression": torch.linspace(10, 1, 30).tolist(), "global": [5.0] * 30}
    fits = [
        D.to_inference_data(problem.model, problem.guide(scale), X, y, num_samples=300,
                            parallel=True, history=history)
        for scale in (1.0, 1.3)
    ]
    probs = torch.softmax(2 * torch.randn(300, 5, dtype=torch.float64), -1)
    labels = torch.multinomial(probs, 1).squeeze(-1)
    return {
        "idata": D.concat_fits(fits),
        "calibration": D.calibration_summary(probs, labels),
        "ood": (D.predictive_entropy(probs), D.predictive_entropy(probs.sqrt().softmax(-1)),
                "predictive entropy"),
        "weight_scales": {"fc1": (torch.rand(20) + 0.1, torch.rand(8) + 0.1),
                          "fc2": (torch.rand(8) + 0.1, torch.rand(3) + 0.1)},
        "sparsity": {"z1": 0.4, "z2": 0.75},
        "config": {"optimizer": {"name": "adam", "lr": 1e-3}, "note": "<script>x</script>"},
    }


@pytest.fixture(scope="session")
def report_page():
    """The HTML of a report with every section."""
    return D.build_report(**_report_inputs(), title="test run")
