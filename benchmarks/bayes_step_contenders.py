"""The contenders of benchmarks/bench_bayes_step.py: builders of one training step.

Each builder takes a device and returns a :class:`Contender`: a step function of the
batch and the context it runs in (Pyro's validation, the local reparameterization
handler, a param store of its own for Pyro's SVI).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import NamedTuple

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from bench_engine import Block, mlp
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO, TraceMeanField_ELBO
from pyro.infer.autoguide import AutoNormal
from torch import nn

from pyro_local.guides import AutoMatrixNormal, AutoMeanFieldNormal, StructuredRectifiedGuide
from pyro_local.infer import LocalSVI
from pyro_local.models import RectifiedHierarchy
from pyro_local.models.architectures import BayesianMLP
from pyro_local.models.rectified_hierarchy import OBSERVED, latent_name
from pyro_local.nn import local_reparameterization

NUM_DATA = 60000
SIZES = (784, 400, 400, 10)

__all__ = ["AutoMatrixNormal", "AutoMeanFieldNormal"]


class Contender(NamedTuple):
    """A training step and the context it runs in (Pyro's validation, handlers)."""

    step: Callable
    context: Callable = contextlib.nullcontext


def _pyro_context(validation=True, local=False, own_store=False):
    """Pyro's validation on or off, optionally the local reparameterization handler,
    and for Pyro's SVI a param store of the contender's own (two AutoNormal guides
    would otherwise share their parameters by name)."""
    store = {"params": {}, "constraints": {}}

    def context():
        stack = contextlib.ExitStack()
        stack.enter_context(pyro.validation_enabled(validation))
        if local:
            stack.enter_context(local_reparameterization())
        if own_store:
            stack.enter_context(pyro.get_param_store().scope(store))
        return stack

    return context


def _torch_step(params, loss_fn, **adam_args):
    opt = torch.optim.Adam(params, lr=1e-3, **adam_args)

    def step(*batch):
        loss = loss_fn(*batch)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


# ------------------------------------------------------------------ MLP contenders
def plain_step(device, **adam_args):
    """``torch.optim.Adam`` as a user writes it: torch's default kernel (on CPU, a
    loop over the parameters)."""
    net = mlp(400, 2, 784).to(device)
    loss = lambda x, y: F.cross_entropy(net(x), y)  # noqa: E731
    return Contender(_torch_step(net.parameters(), loss, **adam_args))


def plain_step_fused(device):
    """The same with torch's fused Adam kernel, the one ``LocalSVI`` picks."""
    return plain_step(device, fused=True)


def _fan_in_scaled_means(d, p):
    """The input scale ``1/sqrt(d + 1)`` and the posterior means of a ``(d + 1, p)``
    weight with its bias row last: Glorot-scaled, bias row zero."""
    loc = torch.randn(d + 1, p) * math.sqrt(4 / (d + p))
    loc[-1] = 0
    return 1 / math.sqrt(d + 1), nn.Parameter(loc)


class PlainMatrixNormalLinear(nn.Module):
    """``MN(M, diag(r^2), diag(c^2))`` weights (bias row last, inputs scaled by
    ``1/sqrt(n)``), local reparameterization, KL to ``MN(0, I, I)``: the library's
    diagonal matrix-normal layer written by hand."""

    def __init__(self, d, p):
        super().__init__()
        n = d + 1
        self.c, self.loc = _fan_in_scaled_means(d, p)
        self.log_row = nn.Parameter(0.01 * torch.randn(n))
        self.log_col = nn.Parameter(0.01 * torch.randn(p))

    def forward(self, x):
        row_var, col_scale = (2 * self.log_row).exp(), self.log_col.exp()
        mean = self.c * torch.addmm(self.loc[-1], x, self.loc[:-1])
        quad = self.c**2 * torch.addmv(row_var[-1], x.pow(2), row_var[:-1])
        noise = torch.randn_like(mean) * col_scale
        return mean + quad.sqrt().unsqueeze(-1) * noise

    def kl(self):
        n, p = self.loc.shape
        trace = (2 * self.log_row).exp().sum() * (2 * self.log_col).exp().sum()
        log_det = 2 * (n * self.log_col.sum() + p * self.log_row.sum())
        return 0.5 * (trace + self.loc.pow(2).sum() - n * p - log_det)


class PlainMeanFieldLinear(nn.Module):
    """``prod_ij N(mu_ij, s_ij^2)`` weights (bias row last, inputs scaled by
    ``1/sqrt(n)``), local reparameterization (Kingma et al. 2015), KL to ``N(0, 1)``:
    the library's mean-field layer written by hand."""

    def __init__(self, d, p):
        super().__init__()
        n = d + 1
        self.c, self.loc = _fan_in_scaled_means(d, p)
        self.log_scale = nn.Parameter(0.01 * torch.randn(n, p))

    def forward(self, x):
        var = (2 * self.log_scale).exp()
        mean = self.c * torch.addmm(self.loc[-1], x, self.loc[:-1])
        var_out = self.c**2 * torch.addmm(var[-1], x.pow(2), var[:-1])
        return mean + var_out.sqrt() * torch.randn_like(mean)

    def kl(self):
        n, p = self.loc.shape
        var = (2 * self.log_scale).exp()
        return 0.5 * (var.sum() + self.loc.pow(2).sum() - n * p - 2 * self.log_scale.sum())


def _plain_bayes_step(layer_cls):
    def build(device):
        layers = nn.ModuleList(layer_cls(a, b) for a, b in zip(SIZES[:-1], SIZES[1:])).to(device)

        def loss(x, y):
            h = x
            for i, layer in enumerate(layers):
                h = layer(h)
                if i < len(layers) - 1:
                    h = torch.relu(h)
            nll = F.cross_entropy(h, y, reduction="sum") * (NUM_DATA / x.shape[0])
            return nll + sum(layer.kl() for layer in layers)

        return Contender(_torch_step(layers.parameters(), loss))

    return build


plain_mn_step = _plain_bayes_step(PlainMatrixNormalLinear)
plain_mf_step = _plain_bayes_step(PlainMeanFieldLinear)


def local_svi_step(guide_cls, validation=True):
    def build(device):
        model = BayesianMLP(SIZES[0], list(SIZES[1:-1]), SIZES[-1], num_data=NUM_DATA)
        model.to(device)
        svi = LocalSVI(model, guide_cls(model), optim_args={"lr": 1e-3})
        return Contender(svi.step, _pyro_context(validation, local=True))

    return build


def pyro_autonormal_step(validation=True):
    def build(device):
        model = BayesianMLP(SIZES[0], list(SIZES[1:-1]), SIZES[-1], num_data=NUM_DATA)
        model.to(device)
        guide = AutoNormal(model, init_scale=0.01)
        svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-3}), Trace_ELBO())
        return Contender(svi.step, _pyro_context(validation, own_store=True))

    return build


def bayesian_torch_step(device):
    from bayesian_torch.layers.variational_layers.linear_variational import (
        LinearReparameterization,
    )

    layers = nn.ModuleList(
        LinearReparameterization(a, b) for a, b in zip(SIZES[:-1], SIZES[1:])
    ).to(device)

    def loss(x, y):
        h, kl = x, 0.0
        for i, layer in enumerate(layers):
            h, layer_kl = layer(h)
            kl = kl + layer_kl
            if i < len(layers) - 1:
                h = torch.relu(h)
        return F.cross_entropy(h, y, reduction="sum") * (NUM_DATA / x.shape[0]) + kl

    return Contender(_torch_step(layers.parameters(), loss))


def has_bayesian_torch():
    try:
        import bayesian_torch.layers.variational_layers.linear_variational  # noqa: F401
    except ImportError:
        return False
    return True


# ------------------------------------------------------------------- the engine
def engine_case(build):
    def make(device, width, depth):
        step, _ = build(width, depth, 784, device)
        return Contender(step, _pyro_context(own_store=True))

    return make


def pyro_traced_loop_step(width, depth, d_in, device):
    """The layer programs of ``LocalSVI``'s case run by Pyro's own machinery, without
    the engine: per layer, trace the program on the detached input, minus its
    log-probability as the loss, backward, a fused Adam step. What Pyro's primitives
    in the layer program (a PyroModule with plain nn.Linear parts, a plate, a
    Categorical likelihood) cost whoever runs them."""
    blocks = [Block(d_in if i == 0 else width, width).to(device) for i in range(depth)]
    opts = [torch.optim.Adam(b.parameters(), lr=1e-3, fused=True) for b in blocks]

    def step(x, y):
        h = x
        for block, opt in zip(blocks, opts):
            trace = poutine.trace(block).get_trace(h.detach(), y)
            (-trace.log_prob_sum()).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            h = trace.nodes["_RETURN"]["value"]

    return step, blocks


# ---------------------------------------------------------------- the hierarchy
def hierarchy_local_step(device):
    model = RectifiedHierarchy().to(device)
    guide = StructuredRectifiedGuide(model).to(device)
    svi = LocalSVI(model, guide, strict=False, optim_args={"lr": 1e-3})
    return Contender(svi.step)


def hierarchy_pyro_step(device):
    model = RectifiedHierarchy().to(device)
    guide = StructuredRectifiedGuide(model).to(device)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-3}), TraceMeanField_ELBO())
    return Contender(svi.step, _pyro_context(own_store=True))


def gaussian_vae_step(device):
    """The same networks with Gaussian latents: a ladder VAE under Pyro's SVI."""
    net = RectifiedHierarchy().to(device)
    encoder = StructuredRectifiedGuide(net).to(device)

    def model(x):
        pyro.module("gauss_model", net)
        with pyro.plate("data", x.shape[0], dim=-1):
            z = None
            for l in reversed(range(net.num_layers)):
                loc, scale = net.prior_params(l, z)
                loc, scale = loc.expand(x.shape[0], -1), scale.expand(x.shape[0], -1)
                z = pyro.sample(latent_name(l), dist.Normal(loc, scale).to_event(1))
            pyro.sample(OBSERVED, net.observation(net.decoder(z)), obs=x)

    def guide(x):
        pyro.module("gauss_guide", encoder)
        factors = encoder.encoder(x)
        with pyro.plate("data", x.shape[0], dim=-1):
            z = None
            for l in reversed(range(net.num_layers)):
                loc, scale = encoder.posterior_params(l, factors[l], z)
                z = pyro.sample(latent_name(l), dist.Normal(loc, scale).to_event(1))

    svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-3}), TraceMeanField_ELBO())
    return Contender(svi.step, _pyro_context(own_store=True))


# ------------------------------------------------------------------- the memory
def one_layer_engine_step(kernel_args):
    """A deterministic MLP of 16 layers of 512 units as one Pyro model under
    ``LocalSVI`` (one layer, one optimizer) with Adam's ``kernel_args``."""

    def build(device):
        net = mlp(512, 16, 784).to(device)

        def model(x, y):
            pyro.module("mlp16", net)
            with pyro.plate("data", x.shape[0]):
                pyro.sample("y", dist.Categorical(logits=net(x)), obs=y)

        svi = LocalSVI(model, None, optim_args={"lr": 1e-3, **kernel_args})
        return Contender(svi.step)

    return build
