"""Pyro's validation in the weight guides: the posteriors are checked on the first
step, and a non-finite parameter later is named by the engine."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.nn import PyroModule

from pyro_local.guides import AutoMatrixNormal, AutoMeanFieldNormal
from pyro_local.infer import LocalSVI, NonFiniteLossError
from pyro_local.nn import BayesLinear, local_reparameterization


class Net(PyroModule):
    def __init__(self):
        super().__init__()
        self.l1 = BayesLinear(4, 3)

    def forward(self, x, y=None):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("y", dist.Categorical(logits=self.l1(x)), obs=y)


def _nan_scale(guide):
    """Puts a NaN into the first scale parameter of the weight posterior."""
    name, value = next(
        (n, p) for n, p in guide.named_parameters() if "scale" in n and "weight" in n
    )
    with torch.no_grad():
        value.view(-1)[0] = float("nan")
    return name


@pytest.mark.parametrize("guide_cls", [AutoMatrixNormal, AutoMeanFieldNormal])
def test_first_step_validates_the_posteriors(guide_cls):
    model = Net()
    guide = guide_cls(model)
    x, y = torch.randn(5, 4), torch.randint(0, 3, (5,))
    guide(x, y)  # sets the guide up
    _nan_scale(guide)
    guide._posteriors_checked = False
    with pytest.raises(ValueError, match="scale"):
        guide(x, y)


@pytest.mark.parametrize("guide_cls", [AutoMatrixNormal, AutoMeanFieldNormal])
def test_later_non_finite_posterior_is_named_by_the_engine(guide_cls):
    model = Net()
    guide = guide_cls(model)
    x, y = torch.randn(5, 4), torch.randint(0, 3, (5,))
    svi = LocalSVI(model, guide, optim_args={"lr": 1e-3})
    with local_reparameterization():
        svi.step(x, y)
        assert guide._posteriors_checked
        _nan_scale(guide)
        with pytest.raises(NonFiniteLossError, match="l1.weight"):
            svi.step(x, y)
