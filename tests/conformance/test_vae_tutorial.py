"""Pyro's VAE tutorial, unchanged, trained by LocalSVI and by Pyro's SVI.

The tutorial's model and guide are methods of a plain ``nn.Module`` that register
their networks with ``pyro.module``; ``LocalSVI(vae.model, vae.guide)`` once refused
them ("found no parameters"). The latent's KL is taken in closed form by
``LocalELBO`` as by ``TraceMeanField_ELBO``, so the two engines take the same steps.
"""

import pyro
import pytest
import torch
from pyro.infer import SVI, TraceMeanField_ELBO

from pyro_local.data import load
from pyro_local.infer import LocalSVI

from .helpers import elbo_difference_within_error, elbo_draws, fit
from .tutorial_vae import VAE


@pytest.fixture(scope="module")
def images():
    return load("fashion-mnist-small", "train", normalize="unit", flatten=True).images[:100]


def test_tutorial_vae_matches_pyro_svi(images):
    torch.manual_seed(0)
    vae = VAE()
    initial = {k: v.detach().clone() for k, v in vae.state_dict().items()}
    fits = {}
    for engine in ("pyro", "local"):
        vae.load_state_dict(initial)
        _, result = fit(engine, vae.model, lambda model: vae.guide, (images,), steps=30,
                        lr=1e-3, lrd=1.0, pyro_elbo=TraceMeanField_ELBO)
        draws, _ = elbo_draws(vae.model, vae.guide, (images,), num_particles=100)
        fits[engine] = (result, draws)
    (pyro_fit, pyro_draws), (local_fit, local_draws) = fits["pyro"], fits["local"]
    assert local_fit.losses == pytest.approx(pyro_fit.losses, rel=1e-5)
    assert local_fit.losses[-1] < 0.9 * local_fit.losses[0]
    assert set(local_fit.params) == set(pyro_fit.params)  # encoder$$$fc1.weight, ...
    for name, value in pyro_fit.params.items():
        torch.testing.assert_close(local_fit.params[name], value, rtol=1e-4, atol=1e-6)
    agree, diff, se = elbo_difference_within_error(local_draws, pyro_draws)
    assert agree, (diff, se)


def test_after_an_earlier_pyro_svi_run_it_just_works(images):
    # Pyro's global store still holds the first VAE's parameters under the names the
    # second one registers; LocalSVI's own store ignores them.
    torch.manual_seed(0)
    first, second = VAE(z_dim=4, hidden_dim=16), VAE(z_dim=4, hidden_dim=16)
    svi = SVI(first.model, first.guide, pyro.optim.Adam({"lr": 1e-3}), TraceMeanField_ELBO())
    svi.step(images)
    kept = {k: v.detach().clone() for k, v in first.named_parameters()}
    before = {k: v.detach().clone() for k, v in second.named_parameters()}
    local = LocalSVI(second.model, second.guide, optim_args={"lr": 1e-3})
    for _ in range(2):
        local.step(images)
    assert all(not torch.equal(v, before[k]) for k, v in second.named_parameters())
    assert all(torch.equal(v, kept[k]) for k, v in first.named_parameters())
    assert local.layer_params["global"][0].startswith("model.")  # the VAE module's own
    # The trained parameters are now the ones Pyro's store names.
    assert pyro.param("decoder$$$fc1.weight") is second.decoder.fc1.weight
