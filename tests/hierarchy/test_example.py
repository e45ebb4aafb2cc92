"""Smoke test of examples/rectified_hierarchy.py in its --quick mode."""

import importlib.util
import json
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rectified_hierarchy.py"


def _load():
    spec = importlib.util.spec_from_file_location("rectified_hierarchy_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_quick_run_writes_results_and_pictures(tmp_path):
    example = _load()
    results = example.main(["--quick", "--out", str(tmp_path), "--no-progress", "--threads", "1"])
    saved = json.loads((tmp_path / "results.json").read_text())
    for variant in ("structured", "mean-field", "gaussian-vae"):
        r = saved[variant]
        assert (tmp_path / f"{variant}.png").stat().st_size > 10_000
        assert r["iwae"][0] >= r["test_elbo"] - 5 * r["iwae"][1]
        assert r["epochs"] == 1
    layers = results["structured"]["test_elbo_layers"]
    assert set(layers) == {"x", "z1", "z2", "z3", "z4"}
    assert set(results["structured"]["active_units"]) == {"z1", "z2", "z3", "z4"}


def test_help():
    example = _load()
    with pytest.raises(SystemExit) as info:
        example.parse_args(["--help"])
    assert info.value.code == 0
