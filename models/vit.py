"""A small Vision Transformer whose blocks each get a local objective."""

from __future__ import annotations

import torch

from pyro_local._checks import check_int
from pyro_local.nn import Stack


class PatchEmbedding(torch.nn.Module):
    """Non-overlapping ``patch x patch`` patches -> tokens, plus learned positions."""

    def __init__(self, in_channels: int, image_size: int, patch: int, dim: int):
        super().__init__()
        if image_size % patch:
            raise ValueError(f"patch: expected a divisor of image_size {image_size}, got {patch}")
        self.proj = torch.nn.Conv2d(in_channels, dim, patch, stride=patch)
        self.pos = torch.nn.Parameter(torch.zeros(1, (image_size // patch) ** 2, dim))
        torch.nn.init.trunc_normal_(self.pos, std=0.02)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2) + self.pos


class TransformerBlock(torch.nn.Module):
    """Pre-norm encoder block: ``x + MHA(LN(x))``, then ``x + MLP(LN(x))``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0):
        super().__init__()
        self.norm1 = torch.nn.LayerNorm(dim)
        self.attn = torch.nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = torch.nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(dim, hidden), torch.nn.GELU(),
                                       torch.nn.Linear(hidden, dim))

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class TokenClassifier(torch.nn.Module):
    """LayerNorm, mean over tokens, linear."""

    def __init__(self, dim: int, num_classes: int):
        super().__init__()
        self.norm = torch.nn.LayerNorm(dim)
        self.linear = torch.nn.Linear(dim, num_classes)

    def forward(self, x):
        return self.linear(self.norm(x).mean(1))


def small_vit(in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
              patch: int = 7, dim: int = 64, depth: int = 4, heads: int = 4,
              mlp_ratio: float = 2.0) -> Stack:
    """
    A small ViT as a :class:`~pyro_local.nn.Stack` of ``depth`` blocks ``block1 ...``:
    the first embeds the patches and runs the first transformer block, each later
    block is one transformer block; the classifier normalises, averages the tokens and
    applies a linear layer. Local heads read the token-averaged activation, so each
    block gets its own local objective (SVP's setting for ViTs uses ``proj_dim``
    equal to the number of classes).

    :param int patch: the patch size (a divisor of ``image_size``).
    :param int dim: the token width.
    :param int depth: the number of transformer blocks.
    :param int heads: attention heads per block.
    """
    check_int(depth, "depth")
    blocks = {"block1": torch.nn.Sequential(PatchEmbedding(in_channels, image_size, patch, dim),
                                            TransformerBlock(dim, heads, mlp_ratio))}
    for i in range(2, depth + 1):
        blocks[f"block{i}"] = TransformerBlock(dim, heads, mlp_ratio)
    return Stack(blocks, TokenClassifier(dim, num_classes), (in_channels, image_size, image_size))


__all__ = ["PatchEmbedding", "TokenClassifier", "TransformerBlock", "small_vit"]
