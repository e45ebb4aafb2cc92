"""Pooling a layer's activation to the small feature vector that local objectives read."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .._checks import check_enum, check_int, is_int


def _check_shape(shape) -> tuple[int, ...]:
    if not isinstance(shape, Sequence) or not shape or not all(
        is_int(s) for s in shape
    ):
        raise ValueError(f"shape: expected a non-empty sequence of positive ints, got {shape!r}")
    return tuple(shape)


def check_pool(pool) -> int | None:
    """Validates a spatial pool size: ``None`` or a positive int."""
    return pool if pool is None else check_int(pool, "pool")


def pooled_shape(shape, pool: int | None) -> tuple[int, ...]:
    """
    The shape (without the batch dimension) that :func:`pool_features` gives for an
    activation of shape ``shape``, before flattening.

    :param shape: the activation's shape without the batch dimension: ``(D,)``,
        tokens ``(T, D)`` or feature maps ``(C, H, W)``.
    :param int pool: the spatial size feature maps are average-pooled to (``None``
        keeps them whole); ignored for vectors and tokens.
    """
    shape = _check_shape(shape)
    check_pool(pool)
    if len(shape) == 1:
        return shape
    if len(shape) == 2:  # tokens: the mean over tokens
        return shape[1:]
    if len(shape) == 3:
        return shape if pool is None else (shape[0], pool, pool)
    raise ValueError(f"shape: expected 1 to 3 dimensions, got {shape!r}")


def pooled_dim(shape, pool: int | None) -> int:
    """The length of the flat feature vector :func:`pool_features` gives."""
    return math.prod(pooled_shape(shape, pool))


def pool_features(a: torch.Tensor, pool: int | None) -> torch.Tensor:
    """
    Flattens an activation to one feature vector per example, as LLS does before its
    fixed basis: feature maps ``(N, C, H, W)`` are adaptive-average-pooled to
    ``(C, pool, pool)`` and flattened channel-major, tokens ``(N, T, D)`` are averaged
    over ``T``, vectors ``(N, D)`` pass unchanged.

    :param torch.Tensor a: the activation, batch first.
    :param int pool: the spatial output size for feature maps, or ``None``.
    :returns: a tensor of shape ``(N, pooled_dim(a.shape[1:], pool))``.
    """
    if a.dim() == 2:
        return a
    if a.dim() == 3:
        return a.mean(1)
    if a.dim() == 4:
        if pool is not None:
            a = F.adaptive_avg_pool2d(a, (pool, pool))
        return a.flatten(1)
    raise ValueError(f"activation: expected 2 to 4 dimensions (batch first), got shape "
                     f"{tuple(a.shape)}")


def fixed_gaussian(rows: int, cols: int, seed: int) -> torch.Tensor:
    """
    A ``rows x cols`` matrix of independent ``N(0, 1 / cols)`` entries drawn from its
    own generator seeded with ``seed`` (the global random state is untouched). Every
    coordinate of ``R @ v`` has variance ``|v|^2 / cols`` whatever ``rows`` is, so the
    scale of logits read through ``R`` does not depend on the projection's dimension;
    ``sqrt(cols / rows) R`` is the norm-preserving (Johnson-Lindenstrauss) map.
    """
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(rows, cols, generator=generator, dtype=torch.float64).div_(
        math.sqrt(cols)
    ).float()



def coerce_enum_fields(rule, fields) -> None:
    """Replace each named field of the frozen dataclass ``rule`` by its member of the
    given enum (so strings are accepted), or raise a ``ValueError`` naming the field
    and the choices. ``None`` values are left as they are.

    :param rule: a frozen dataclass instance (a rule's ``__post_init__``).
    :param dict fields: ``{field name: enum type}``.
    """
    for field, enum_type in fields.items():
        value = getattr(rule, field)
        if value is None:
            continue
        object.__setattr__(rule, field, check_enum(enum_type, value, field))

__all__ = ["check_pool", "coerce_enum_fields", "fixed_gaussian", "pool_features", "pooled_dim",
           "pooled_shape"]
