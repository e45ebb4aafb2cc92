"""The rectified KL as one op against the same formula composed of autograd ops:
values, gradients and second derivatives, and what it keeps for the backward pass."""

import pytest
import torch
from torch.distributions import kl_divergence

from pyro_local.distributions import RectifiedNormal
from pyro_local.infer.memory import SavedTensorMeter

from .rectified_kl_reference import composed_kl


def _params(n, dtype, spread=4.0):
    g = torch.Generator().manual_seed(1)
    loc_q = spread * torch.randn(n, generator=g, dtype=torch.float64)
    scale_q = torch.exp(torch.randn(n, generator=g, dtype=torch.float64))
    loc_p = spread * torch.randn(n, generator=g, dtype=torch.float64)
    scale_p = torch.exp(torch.randn(n, generator=g, dtype=torch.float64))
    return [x.to(dtype).requires_grad_() for x in (loc_q, scale_q, loc_p, scale_p)]


def _fused(loc_q, scale_q, loc_p, scale_p):
    return kl_divergence(RectifiedNormal(loc_q, scale_q), RectifiedNormal(loc_p, scale_p))


@pytest.mark.parametrize("spread", [1.0, 4.0, 30.0])
def test_values_and_gradients_equal_the_composed_formula(spread):
    params = _params(2000, torch.float64, spread)
    fused, composed = _fused(*params), composed_kl(*params)
    torch.testing.assert_close(fused, composed, rtol=1e-10, atol=1e-12)
    w = torch.rand_like(fused)
    g_fused = torch.autograd.grad((w * fused).sum(), params)
    g_composed = torch.autograd.grad((w * composed).sum(), params)
    for a, b in zip(g_fused, g_composed):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


def test_second_derivatives_equal_the_composed_formula():
    params = _params(50, torch.float64)
    outs = []
    for f in (_fused, composed_kl):
        (g,) = torch.autograd.grad(f(*params).sum(), params[0], create_graph=True)
        outs.append(torch.autograd.grad(g.sum(), params))
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-9)


def test_float32_gradients_keep_float32_accuracy():
    params32 = _params(2000, torch.float32)
    params64 = [x.detach().double().requires_grad_() for x in params32]
    g32 = torch.autograd.grad(_fused(*params32).sum(), params32)
    g64 = torch.autograd.grad(composed_kl(*params64).sum(), params64)
    for a, b in zip(g32, g64):
        scale = b.abs().clamp(min=1e-3)
        assert ((a.double() - b).abs() / scale).max() < 1e-4


def test_keeps_only_its_inputs_for_backward():
    """The composed formula kept ~100 tensors of the inputs' size for the backward
    pass; the op keeps its four inputs."""
    leaves = _params(10_000, torch.float32)
    with SavedTensorMeter() as meter:
        inputs = [x * 1 for x in leaves]  # activations, as a network's outputs are
        kl = _fused(*inputs)
    assert meter.peak <= 4 * 10_000 * 4
    kl.sum().backward()
