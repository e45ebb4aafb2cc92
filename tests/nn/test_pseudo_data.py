"""Pseudo-data: conditioning against dense Gaussian conditioning, the noise
regulariser, and their use in a layer."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from distributions.matrix_normal_reference import random_matrix_normal
from pyro.infer import TraceMeanField_ELBO
from pyro.nn import PyroModule

from pyro_local.guides import AutoMatrixNormal
from pyro_local.nn import BayesConv2d, BayesLinear, local_reparameterization
from pyro_local.nn.local_reparam import PseudoData, preactivation_moments, sample_preactivations
from pyro_local.nn.pseudo_data import PseudoDataModule, noise_neg_kl
from pyro_local.nn.weight_maps import Conv2dMap, LinearMap

from .test_local_reparam import NUM_SAMPLES, _as_rows, _assert_exact_moments
from .test_weight_maps import _rows

STRUCTURES = ["diagonal", "low_rank", "dense"]


def _dense_conditional_rows(wmap, x, posterior, ref, pseudo):
    """Moments of each row of ``A W`` given ``X W + E = Y``, ``vec(E) ~ N(0, V kron jI)``,
    by dense Gaussian conditioning of ``vec(W) ~ N(vec M, V kron U)``."""
    k, p = pseudo.outputs.shape
    cov = ref.covariance_matrix
    mean = ref.mean
    h = torch.kron(torch.eye(p, dtype=cov.dtype), pseudo.inputs)  # vec(X W) = H vec(W)
    s11 = pseudo.inputs @ posterior.row_covariance @ pseudo.inputs.mT
    jitter = pseudo.jitter * s11.diagonal().mean() + torch.finfo(cov.dtype).tiny
    noise = torch.kron(posterior.column_covariance, jitter * torch.eye(k, dtype=cov.dtype))
    gain = cov @ h.mT @ torch.linalg.inv(h @ cov @ h.mT + noise)
    y = pseudo.outputs.mT.reshape(-1)  # columns stacked
    mean_c = mean + gain @ (y - h @ mean)
    cov_c = cov - gain @ h @ cov
    rows = _rows(wmap, x).reshape(-1, wmap.rows)
    ks = [torch.kron(torch.eye(p, dtype=cov.dtype), a.unsqueeze(0)) for a in rows]
    return torch.stack([k_ @ mean_c for k_ in ks]), torch.stack([k_ @ cov_c @ k_.mT for k_ in ks])


def _setup(layer, row_kind, column_kind):
    if layer == "linear":
        wmap, x = LinearMap(3, 2), torch.randn(5, 3, dtype=torch.float64)
    else:
        wmap, x = Conv2dMap(1, 2, 2), torch.randn(2, 1, 3, 3, dtype=torch.float64)
    posterior, ref = random_matrix_normal(row_kind, column_kind, wmap.rows, wmap.columns)
    k = 3
    pseudo = PseudoData(
        torch.randn(k, wmap.rows, dtype=torch.float64),
        torch.randn(k, wmap.columns, dtype=torch.float64),
        jitter=1e-2,
    )
    return wmap, x, posterior, ref, pseudo


@pytest.mark.parametrize("layer", ["linear", "conv"])
@pytest.mark.parametrize("row_kind", STRUCTURES)
def test_conditioning_matches_dense(layer, row_kind):
    wmap, x, posterior, ref, pseudo = _setup(layer, row_kind, "low_rank")
    mean, quad = preactivation_moments(wmap, x, posterior, pseudo)
    exact_mean, exact_cov = _dense_conditional_rows(wmap, x, posterior, ref, pseudo)
    quad = _as_rows(wmap, quad.unsqueeze(wmap.column_dim)).squeeze(-1)
    torch.testing.assert_close(_as_rows(wmap, mean), exact_mean)
    torch.testing.assert_close(quad[:, None, None] * posterior.column_covariance, exact_cov)


def test_conditioned_sampling_has_the_conditional_moments():
    """Monte Carlo: 5 standard errors, as in test_local_reparam."""
    wmap, x, posterior, ref, pseudo = _setup("linear", "dense", "dense")
    exact_mean, exact_cov = _dense_conditional_rows(wmap, x, posterior, ref, pseudo)
    draws = sample_preactivations(wmap, x.expand((NUM_SAMPLES,) + x.shape), posterior, pseudo)
    _assert_exact_moments(draws, exact_mean, exact_cov)


def test_conditioning_on_the_mean_reduces_only_the_variance():
    """Pseudo-outputs equal to X M leave the mean at a M and shrink a U a^T."""
    wmap, x, posterior, _, pseudo = _setup("linear", "diagonal", "diagonal")
    pseudo = pseudo._replace(outputs=pseudo.inputs @ posterior.loc)
    mean, quad = preactivation_moments(wmap, x, posterior, pseudo)
    mean0, quad0 = preactivation_moments(wmap, x, posterior)
    torch.testing.assert_close(mean, mean0)
    assert (quad < quad0).all() and (quad > 0).all()


def test_noise_regulariser():
    alpha = torch.tensor([1e-3, 0.1, 0.5, 1.0], dtype=torch.float64)
    c1, c2, c3 = 1.16145124, -1.50204118, 0.58629921
    expected = 0.5 * alpha.log() + c1 * alpha + c2 * alpha**2 + c3 * alpha**3 - (c1 + c2 + c3)
    torch.testing.assert_close(noise_neg_kl(alpha), expected)
    assert noise_neg_kl(alpha)[-1] == 0 and (noise_neg_kl(alpha)[:-1] < 0).all()


def test_module_emits_its_regulariser():
    module = PseudoDataModule(4, 6, 3, input_scale=0.5)
    trace = pyro.poutine.trace(module).get_trace()
    site = trace.nodes["noise_kl"]
    sigma = module.point_noise.unsqueeze(-1)
    expected = (
        noise_neg_kl((sigma * module.input_noise).pow(2)).sum()
        + noise_neg_kl((sigma * module.output_noise).pow(2)).sum()
    )
    torch.testing.assert_close(site["fn"].log_prob(site["value"]), expected)
    pseudo = trace.nodes["_RETURN"]["value"]
    assert pseudo.inputs.shape == (4, 6) and pseudo.outputs.shape == (4, 3)
    with pytest.raises(ValueError, match="pseudo_data: expected an int >= 1"):
        PseudoDataModule(0, 6, 3, input_scale=1.0)


class _Regression(PyroModule):
    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x, y=None):
        out = self.layer(x).flatten(1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("y", dist.Normal(out, 1.0).to_event(1), obs=y)
        return out


@pytest.mark.parametrize(
    "layer,x",
    [
        (BayesLinear(3, 2, pseudo_data=5), torch.randn(8, 3)),
        (BayesConv2d(1, 2, 2, pseudo_data=5), torch.randn(8, 1, 3, 3)),
    ],
    ids=["linear", "conv"],
)
def test_layer_with_pseudo_data(layer, x):
    model = _Regression(layer)
    guide = AutoMatrixNormal(model)
    y = torch.randn(x.shape[0], 2 if x.dim() == 2 else 8)
    elbo = TraceMeanField_ELBO()
    with local_reparameterization():
        loss = elbo.differentiable_loss(model, guide, x, y)
        trace = pyro.poutine.trace(model).get_trace(x, y)
    loss.backward()
    assert torch.isfinite(loss)
    assert layer.pseudo.inputs.grad is not None and layer.pseudo.inputs.grad.abs().sum() > 0
    assert "layer.pseudo.noise_kl" in trace.nodes
    with pytest.raises(ValueError, match="local_reparameterization"):
        pyro.poutine.trace(model).get_trace(x)
