"""Tiny networks and data for the local-rule tests."""

import torch

from pyro_local.models import small_conv
from pyro_local.nn import LLS, SVP, ContSup, GreedyHeads, Stack, local_net

NUM_CLASSES = 3

#: name -> (heads, context): every rule, and ContSup's three modes.
RULES = {
    "greedy": (GreedyHeads("linear"), None),
    "greedy-conv": (GreedyHeads("conv"), None),
    "svp": (SVP(proj_dim=6, noise_scale=0.2), None),
    "svp-gaussian": (SVP(noise="gaussian", alignment_weight=0.5), None),
    "lls": (LLS(), None),
    "lls-m": (LLS("square", variant="m"), None),
    "lls-mxm": (LLS(variant="mxm"), None),
    "contsup-e": (GreedyHeads(), ContSup(input=True)),
    "contsup-r1": (GreedyHeads(), ContSup(input=False, residual=1)),
    "contsup-r2e-svp": (SVP(), ContSup(input=True, residual=2)),
}


def tiny_conv(seed=0):
    """SmallConv at 1/8 width on 12x12 images: conv1 (4, 12, 12) ... fc1 (64,)."""
    torch.manual_seed(seed)
    return small_conv(num_classes=NUM_CLASSES, image_size=12, width=0.125)


def tiny_mlp(seed=0, hidden=(6, 5)):
    torch.manual_seed(seed)
    blocks, d = {}, 4
    for i, w in enumerate(hidden):
        blocks[f"fc{i + 1}"] = torch.nn.Sequential(torch.nn.Linear(d, w), torch.nn.BatchNorm1d(w),
                                                   torch.nn.ReLU())
        d = w
    return Stack(blocks, torch.nn.Linear(d, NUM_CLASSES), (4,))


def tiny_net(rule, seed=0):
    heads, context = RULES[rule]
    return local_net(tiny_conv(seed), heads, context, seed=seed)


def images(n=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 12, 12, generator=g), torch.randint(0, NUM_CLASSES, (n,), generator=g)


def vectors(n=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g), torch.randint(0, NUM_CLASSES, (n,), generator=g)
