"""Small networks for the engine's tests: deterministic, Bayesian and stochastic layers."""

import pyro
import pyro.distributions as dist
import torch
from pyro.infer.autoguide import AutoNormal
from pyro.nn import PyroModule, PyroSample

from pyro_local.nn import LocalNet

NUM_CLASSES = 3


class DetBlock(PyroModule):
    """Linear + tanh with a local softmax head on the label."""

    def __init__(self, d_in, d_out):
        super().__init__()
        self.lin = torch.nn.Linear(d_in, d_out)
        self.head = torch.nn.Linear(d_out, NUM_CLASSES)

    def forward(self, h, y=None):
        a = torch.tanh(self.lin(h))
        with pyro.plate("data", h.shape[-2]):
            pyro.sample("y", dist.Categorical(logits=self.head(a)), obs=y)
        return a


class BayesBlock(PyroModule):
    """A weight matrix with a Normal prior (guided by an autoguide) and a local head."""

    def __init__(self, d_in, d_out):
        super().__init__()
        self.weight = PyroSample(dist.Normal(0.0, 1.0).expand([d_in, d_out]).to_event(2))
        self.head = torch.nn.Linear(d_out, NUM_CLASSES)

    def forward(self, h, y=None):
        a = torch.tanh(h @ self.weight / h.shape[-1] ** 0.5)
        with pyro.plate("data", h.shape[-2]):
            pyro.sample("y", dist.Categorical(logits=self.head(a)), obs=y)
        return a


class StochBlock(PyroModule):
    """A stochastic activation whose variational conditional is the model's own."""

    def __init__(self, d_in, d_out):
        super().__init__()
        self.lin = torch.nn.Linear(d_in, d_out)
        self.head = torch.nn.Linear(d_out, NUM_CLASSES)

    def forward(self, h, y=None):
        a = torch.tanh(self.lin(h))
        with pyro.plate("data", h.shape[-2]):
            z = pyro.sample("z", dist.Normal(a, 0.1).to_event(1), infer={"guide_is_prior": True})
            pyro.sample("y", dist.Categorical(logits=self.head(z)), obs=y)
        return z


BLOCKS = {"det": DetBlock, "bayes": BayesBlock, "stoch": StochBlock}


def make_net(kinds, widths, seed=0):
    """A LocalNet with blocks of the given kinds; Bayesian blocks get AutoNormal guides."""
    torch.manual_seed(seed)
    layers, guides = {}, {}
    for i, kind in enumerate(kinds):
        block = BLOCKS[kind](widths[i], widths[i + 1])
        layers[f"l{i + 1}"] = block
        if kind == "bayes":
            guides[f"l{i + 1}"] = AutoNormal(block, init_scale=0.05)
    return LocalNet(layers, guides)


def make_data(n=24, d=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = torch.randint(0, NUM_CLASSES, (n,), generator=g)
    return x, y
