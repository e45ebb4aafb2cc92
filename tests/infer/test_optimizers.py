"""The engine's choice of torch's optimizer kernels, and the user's overriding it."""

import pyro
import pyro.distributions as dist
import pytest
import torch

from pyro_local.infer import LocalSVI
from pyro_local.infer.optimizers import optimizer_kernels


def _params():
    return [torch.nn.Parameter(torch.randn(4, 3))]


@pytest.mark.parametrize(
    "optim, expected",
    [
        (torch.optim.Adam, {"fused": True}),
        (torch.optim.SGD, {"fused": True}),
        (torch.optim.Adamax, {"foreach": True}),  # no fused kernel
        (torch.optim.LBFGS, {}),  # neither
    ],
)
def test_fused_where_torch_has_it_else_foreach(optim, expected):
    assert optimizer_kernels(optim, _params(), {"lr": 0.1}) == {"lr": 0.1, **expected}


@pytest.mark.parametrize("choice", [{"foreach": False}, {"foreach": True}, {"fused": False}])
def test_the_users_choice_is_kept(choice):
    assert optimizer_kernels(torch.optim.Adam, _params(), {"lr": 0.1, **choice}) == {
        "lr": 0.1,
        **choice,
    }


def _model(x, y):
    w = pyro.param("w", torch.zeros(3, 2))
    with pyro.plate("data", x.shape[0]):
        pyro.sample("y", dist.Categorical(logits=x @ w), obs=y)


@pytest.mark.parametrize("choice", [{}, {"foreach": True}, {"foreach": False}])
def test_engine_steps_alike_with_every_kernel(choice):
    """The kernels differ only in the last bits of an update."""
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    svi = LocalSVI(_model, None, optim_args={"lr": 0.1, **choice})
    for _ in range(5):
        svi.step(x, y)
    (optimizer,) = svi.optimizers.values()
    if not choice:
        assert optimizer.defaults["fused"] is True
    reference = LocalSVI(_model, None, optim_args={"lr": 0.1, "foreach": False})
    for _ in range(5):
        reference.step(x, y)
    torch.testing.assert_close(svi.parameters("global")[0], reference.parameters("global")[0])
