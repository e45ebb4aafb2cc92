"""LocalSVI with parameters that pyro.param creates: owned, trained, saved, layered."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import SVI, TraceMeanField_ELBO
from pyro.infer.autoguide import AutoNormal

from pyro_local.infer import LocalSVI
from pyro_local.poutine import layer

DATA = torch.tensor([0.3, -1.2, 2.0, 0.7, 1.1, -0.4])


def model(data=DATA):
    z = pyro.sample("z", dist.Normal(torch.zeros(2), 1.0).to_event(1))
    with pyro.plate("data", len(data)):
        pyro.sample("x", dist.Normal(z[0] + z[1], 1.0), obs=data)


def guide(data=DATA):
    loc = pyro.param("loc", torch.tensor([0.2, -0.1]))
    scale = pyro.param("scale", torch.tensor([0.8, 1.3]), constraint=dist.constraints.positive)
    pyro.sample("z", dist.Normal(loc, scale).to_event(1))


def test_a_pyro_param_guide_trains_as_under_pyro_svi():
    paths = []
    for engine in ("pyro", "local"):
        pyro.clear_param_store()
        pyro.set_rng_seed(0)
        if engine == "pyro":
            svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), TraceMeanField_ELBO())
            losses = [svi.step() for _ in range(20)]
        else:
            svi = LocalSVI(model, guide, optim_args={"lr": 0.05}, seed=0)
            losses = [svi.step().loss for _ in range(20)]
            assert svi.layer_params == {"global": ["param_store.loc", "param_store.scale"]}
        # The trained values stay in Pyro's param store, as under Pyro's SVI.
        paths.append((losses, pyro.param("loc").detach(), pyro.param("scale").detach()))
    (l_pyro, *p_pyro), (l_ours, *p_ours) = paths
    assert l_ours == pytest.approx(l_pyro, rel=1e-5)
    for a, b in zip(p_ours, p_pyro):
        torch.testing.assert_close(a, b)


def test_pyro_params_next_to_module_parameters_in_their_layers():
    def layered(x):
        with layer("a"):
            w = pyro.param("w", torch.ones(3))
            pyro.sample("ya", dist.Normal((x * w).sum(), 1.0), obs=torch.tensor(0.0))
        with layer("b"):
            pyro.sample("yb", dist.Normal(holder.lin(x[:1]).sum(), 1.0), obs=torch.tensor(1.0))

    holder = torch.nn.Module()
    holder.lin = torch.nn.Linear(1, 1)
    holder.forward = layered
    svi = LocalSVI(holder, None, optim_args={"lr": 0.1})
    before = pyro.param("w").detach().clone() if "w" in pyro.get_param_store() else None
    svi.step(torch.ones(3))
    assert before is None
    assert svi.layer_params == {
        "a": ["param_store.w"],
        "b": ["model.lin.weight", "model.lin.bias"],
    }
    assert not torch.equal(pyro.param("w").detach(), torch.ones(3))


def test_pyro_params_are_in_checkpoints_and_load_back(tmp_path):
    pyro.set_rng_seed(0)
    svi = LocalSVI(model, guide, optim_args={"lr": 0.05})
    for _ in range(3):
        svi.step()
    path = svi.save(tmp_path / "c.pt")
    saved = pyro.param("loc").detach().clone()
    for _ in range(3):
        svi.step()
    assert not torch.equal(pyro.param("loc").detach(), saved)
    svi.load(path)
    torch.testing.assert_close(pyro.param("loc").detach(), saved, rtol=0, atol=0)
    assert svi.step_count == 3


def test_a_model_with_no_parameters_is_refused():
    def fixed(data=DATA):
        with pyro.plate("data", len(data)):
            pyro.sample("x", dist.Normal(0.0, 1.0), obs=data)

    with pytest.raises(TypeError, match="found no parameters"):
        LocalSVI(fixed, None).step()


def test_pyro_param_next_to_an_autoguide():
    # A learned noise scale (pyro.param in the model) and an autoguide's PyroModule
    # parameters, trained together.
    def noisy(data=DATA):
        sigma = pyro.param("sigma", torch.tensor(2.0), constraint=dist.constraints.positive)
        mu = pyro.sample("mu", dist.Normal(0.0, 10.0))
        with pyro.plate("data", len(data)):
            pyro.sample("x", dist.Normal(mu, sigma), obs=data)

    auto = AutoNormal(noisy)
    svi = LocalSVI(noisy, auto, optim_args={"lr": 0.05})
    for _ in range(300):
        svi.step()
    names = svi.layer_params["global"]
    assert "param_store.sigma" in names and "guide.locs.mu_unconstrained" in names
    # sigma approaches the data's spread about its mean (the MLE, 1.05).
    assert abs(pyro.param("sigma").item() - DATA.std(unbiased=False).item()) < 0.2
