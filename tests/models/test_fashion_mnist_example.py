"""Smoke test of examples/fashion_mnist_bayes.py in --quick mode (shipped subset)."""

import importlib.util
import json
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fashion_mnist_bayes.py"


def _load():
    spec = importlib.util.spec_from_file_location("fashion_mnist_bayes", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra",
    [
        ["--arch", "lenet5", "--guide", "matrix_normal", "--eval-every", "1"],
        ["--arch", "mlp", "--guide", "auto_normal"],
        [
            "--arch",
            "mlp",
            "--guide",
            "matrix_normal",
            "--training",
            "local",
            "--mode",
            "sequential",
        ],
        ["--arch", "mlp", "--guide", "matrix_normal", "--pseudo-data", "8", "--predict-local"],
    ],
    ids=["lenet5-mn", "mlp-autonormal", "mlp-mn-local", "mlp-mn-pseudo-data"],
)
def test_quick_run(tmp_path, extra):
    out = tmp_path / "result.json"
    result = _load().main(
        ["--quick", "--threads", "1", "--ood-size", "200", "--out", str(out), *extra]
    )
    saved = json.loads(out.read_text())
    for key in ("accuracy", "nll", "ece", "brier", "auroc_flipped", "auroc_noise"):
        assert 0 <= saved[key] < 10 and saved[key] == result[key]
    assert saved["accuracy"] > 0.1  # above chance after one pass over 5000 images
