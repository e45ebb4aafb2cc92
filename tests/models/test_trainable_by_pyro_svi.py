"""Every model and guide the library ships is trained by Pyro's own SVI.

Pyro's SVI optimizes the parameters it sees at ``param`` sites; a plain
``torch.nn.Module`` shows none, and its parameters would stay at their initial
values without an error. Each case takes two steps of ``pyro.infer.SVI`` and checks
that every parameter of the model and guide moved.
"""


import pyro
import pytest
import torch
from pyro.infer import SVI, TraceMeanField_ELBO
from pyro.optim import Adam

from pyro_local.guides import (
    AutoMatrixNormal,
    AutoMeanFieldNormal,
    GaussianEncoderGuide,
    MeanFieldRectifiedGuide,
    StructuredRectifiedGuide,
)
from pyro_local.infer import LocalSVI
from pyro_local.infer.ownership import LayerLeakError
from pyro_local.models import GaussianVAE, RectifiedHierarchy, bayes_mlp, mlp
from pyro_local.models.architectures import BayesianLeNet5, BayesianMLP, BayesianRegressor
from pyro_local.nn import SVP, GreedyHeads, local_net


def _binary(n=16, d=12):
    return ((torch.randn(n, d) > 0).float(),)


def _vectors(n=16, d=12, classes=3):
    return torch.randn(n, d), torch.randint(0, classes, (n,))


def _vae(likelihood):
    model = GaussianVAE(x_dim=12, z_dim=3, hidden_dims=(8,), likelihood=likelihood)
    return model, GaussianEncoderGuide(model, hidden_dims=(8,)), _binary()


def _hierarchy(guide_cls):
    model = RectifiedHierarchy(x_dim=12, latent_dims=(6, 4, 2), hidden_dims=(8, 6, 4))
    return model, guide_cls(model, hidden_dims=(8, 6, 4)), _binary()


def _bayes(make_model, guide_cls, data):
    model = make_model()
    return model, guide_cls(model), data


def _net(net, data):
    return net.model, net.guide, data


CASES = {
    "gaussian_vae": lambda: _vae("bernoulli"),
    "gaussian_vae_gaussian_likelihood": lambda: _vae("gaussian"),
    "rectified_structured": lambda: _hierarchy(StructuredRectifiedGuide),
    "rectified_mean_field": lambda: _hierarchy(MeanFieldRectifiedGuide),
    "bayes_mlp_matrix_normal": lambda: _bayes(
        lambda: BayesianMLP(12, [7], 3, num_data=100), AutoMatrixNormal, _vectors()
    ),
    "bayes_mlp_mean_field": lambda: _bayes(
        lambda: BayesianMLP(12, [7], 3, num_data=100), AutoMeanFieldNormal, _vectors()
    ),
    "bayes_lenet5": lambda: _bayes(
        lambda: BayesianLeNet5(channels=(2, 3), hidden=(8,), num_data=100),
        AutoMatrixNormal,
        (torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,))),
    ),
    "bayes_regressor": lambda: _bayes(
        lambda: BayesianRegressor(12, [7], 2, num_data=100),
        AutoMatrixNormal,
        (torch.randn(16, 12), torch.randn(16, 2)),
    ),
    "local_bayes_net": lambda: _net(
        local_net(bayes_mlp(12, [7], 3), GreedyHeads("linear"), num_data=100,
                  guide_builder=AutoMatrixNormal),
        _vectors(),
    ),
    "local_rule_net": lambda: _net(
        local_net(mlp((12,), (7, 5), 3), SVP()), _vectors()
    ),
}


def _parameters(*objs):
    out = {}
    for obj in objs:
        module = obj if isinstance(obj, torch.nn.Module) else obj.__self__
        out.update({f"{id(module)}.{k}": v for k, v in module.named_parameters()})
    return out


@pytest.mark.parametrize("case", CASES)
def test_pyro_svi_moves_every_parameter(case):
    model, guide, data = CASES[case]()
    guide(*data)  # lazily created parameters exist from here on
    params = _parameters(model, guide)
    assert params
    before = {k: v.detach().clone() for k, v in params.items()}
    svi = SVI(model, guide, Adam({"lr": 1e-2}), TraceMeanField_ELBO())
    for _ in range(2):
        svi.step(*data)
    frozen = [k for k, v in params.items() if torch.equal(v.detach(), before[k])]
    assert not frozen, frozen


def test_gaussian_vae_is_trained_jointly_by_local_svi():
    # Its layers "z" (KL) and "x" (reconstruction) are reported apart, but the
    # encoder is reached by both: strict=True says so, strict=False trains it.
    model, guide, (x,) = _vae("bernoulli")
    with pytest.raises(LayerLeakError, match="(?s)guide.body.*layers \\['z', 'x'\\].*strict=False"):
        LocalSVI(model, guide).step(x)
    pyro.clear_param_store()
    svi = LocalSVI(model, guide, strict=False)
    assert set(svi.step(x).layer_losses) == {"z", "x"}
