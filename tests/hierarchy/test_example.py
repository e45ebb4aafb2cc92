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


def test_free_bits_floor_each_latent_kl_and_nothing_else():
    import torch

    from pyro_local.guides import StructuredRectifiedGuide
    from pyro_local.infer import LocalELBO
    from pyro_local.models import RectifiedHierarchy

    example = _load()
    torch.manual_seed(0)
    model = RectifiedHierarchy(x_dim=6, latent_dims=(4, 3), hidden_dims=(5, 5))
    guide = StructuredRectifiedGuide(model)
    x = torch.bernoulli(torch.full((8, 6), 0.5))
    nats = 0.5
    torch.manual_seed(1)
    plain = LocalELBO().layer_losses(model, guide, x)
    torch.manual_seed(1)
    floored = example.FreeBitsELBO(nats, model.latent_names).layer_losses(model, guide, x)
    assert set(plain) == set(floored)
    torch.testing.assert_close(floored["x"], plain["x"])
    for name in model.latent_names:  # the loss of a latent layer is its KL
        expected = torch.clamp(plain[name], min=nats * len(x))
        torch.testing.assert_close(floored[name], expected)
    # below the floor the KL exerts no gradient; above it, the plain one
    kl = plain["z2"]
    floored["z2"].backward()
    grads = [p.grad for p in guide.parameters() if p.grad is not None]
    assert (kl < nats * len(x)) == all(bool((g == 0).all()) for g in grads)
