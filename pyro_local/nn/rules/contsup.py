"""ContSup: greedy local learning with a context path (Yu et al., "Go beyond End-to-End").

Greedy local learning cuts the network into modules, each trained by its own head on
a detached input; information the early heads did not need is lost for good. ContSup
adds *context* to every module's input but the first::

    h_k  =  cut(b_{k-1})  +  E_k(x)  +  sum_{n=1..N} R_{k,n}(cut(h_{k-n}))

``b_{k-1}`` is the previous module's output, ``E_k`` encodes the network's input
(mode [E]) and ``R_{k,n}`` the input of the module ``n`` boundaries back (mode [Rn],
as in the official code, where that input already carries its own context). The
encoders' outputs are *not* cut: they are trained by module ``k``'s local loss (the
next module's term, seen from the boundary they cross) and stay in the network at
inference.

In a :class:`~pyro_local.nn.LocalNet` the context travels as the layers' output,
a :class:`ContextState` (a named tuple, which :func:`~pyro_local.poutine.cut`
detaches whole at every boundary).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import torch

from ..._checks import check_int


class ContextState(NamedTuple):
    """
    What crosses a boundary under ContSup.

    :param torch.Tensor h: the module's output ``b_k``.
    :param torch.Tensor x: the network's input.
    :param tuple inputs: the inputs of the most recent modules, oldest first (as
        many as the [Rn] mode reads).
    """

    h: torch.Tensor
    x: torch.Tensor
    inputs: tuple


def _vector_encoder(d_in, d_out):
    return torch.nn.Sequential(torch.nn.Linear(d_in, d_out), torch.nn.BatchNorm1d(d_out),
                               torch.nn.ReLU())


class ContextEncoder(torch.nn.Module):
    """
    Maps a context tensor of shape ``in_shape`` to a module input of shape
    ``out_shape`` (shapes without the batch dimension).

    - feature maps to feature maps: adaptive average pool to the target's resolution,
      then with ``hidden`` channels conv3x3 - BN - ReLU - conv3x3 - BN - ReLU
      (ContSup's input encoder), without conv1x1 - BN - ReLU (its residual encoder).
      ContSup convolves at the input's resolution and pools last; pooling first costs
      a fraction (on 28x28 inputs the encoder of a 7x7 module would otherwise cost
      more than the whole SmallConv);
    - feature maps to a vector: the same stem at 4x4, then linear - BN - ReLU;
    - a vector to a vector: linear - BN - ReLU.

    :param tuple in_shape: the context's shape.
    :param tuple out_shape: the module input's shape.
    :param int hidden: channels of the 3x3 stem (``None``: a 1x1 conv).
    """

    def __init__(self, in_shape, out_shape, hidden: int | None = None):
        super().__init__()
        in_shape, out_shape = tuple(in_shape), tuple(out_shape)
        self.out_shape = out_shape
        if len(in_shape) == 1 and len(out_shape) == 1:
            self.net = _vector_encoder(in_shape[0], out_shape[0])
            return
        if len(in_shape) != 3 or len(out_shape) not in (1, 3):
            raise ValueError(
                f"ContextEncoder maps feature maps (C, H, W) or vectors (D,) to feature maps "
                f"or vectors, got {in_shape} -> {out_shape}"
            )
        c_out = out_shape[0] if len(out_shape) == 3 else (hidden or in_shape[0])
        # Pool to the target resolution first: the same receptive field as ContSup's
        # convolve-then-pool at a fraction of the cost on large inputs.
        size = out_shape[1:] if len(out_shape) == 3 else (4, 4)
        stem = [torch.nn.AdaptiveAvgPool2d(tuple(min(s, t) for s, t in zip(size, in_shape[1:])))]
        if hidden is None:
            stem += [torch.nn.Conv2d(in_shape[0], c_out, 1), torch.nn.BatchNorm2d(c_out),
                     torch.nn.ReLU()]
        else:
            stem += [torch.nn.Conv2d(in_shape[0], hidden, 3, padding=1),
                    torch.nn.BatchNorm2d(hidden), torch.nn.ReLU(),
                    torch.nn.Conv2d(hidden, c_out, 3, padding=1), torch.nn.BatchNorm2d(c_out),
                    torch.nn.ReLU()]
        if len(out_shape) == 3:
            stem.append(torch.nn.AdaptiveAvgPool2d(out_shape[1:]))  # if the input was smaller
            self.net = torch.nn.Sequential(*stem)
        else:
            self.net = torch.nn.Sequential(*stem, torch.nn.AdaptiveAvgPool2d(4),
                                           torch.nn.Flatten(),
                                           *_vector_encoder(c_out * 16, out_shape[0]))

    def forward(self, c):
        return self.net(c)


class ContextSupplyModule(torch.nn.Module):
    """
    The context path into one module: :meth:`forward` turns the
    :class:`ContextState` that crossed the boundary into the module's input, and
    :meth:`advance` builds the state passed on. Owned by the module it feeds, so its
    encoders are trained by that module's local loss.

    :param tuple x_shape: the network input's shape (``None``: no [E] encoder).
    :param list residual_shapes: the shapes of the module inputs ``n = 1, 2, ...``
        boundaries back that the [Rn] encoders read (``None`` entries are skipped).
    :param tuple in_shape: this module's input shape.
    :param int num_residual: how many module inputs the state keeps for later
        modules.
    :param int hidden: channels of the [E] encoder's stem.
    """

    def __init__(self, x_shape, residual_shapes, in_shape, num_residual: int,
                 hidden: int = 12):
        super().__init__()
        self.num_residual = num_residual
        self.input_encoder = (None if x_shape is None
                              else ContextEncoder(x_shape, in_shape, hidden=hidden))
        self.residual_encoders = torch.nn.ModuleList(
            ContextEncoder(s, in_shape) for s in residual_shapes if s is not None
        )
        self._residual_slots = [n for n, s in enumerate(residual_shapes, 1) if s is not None]

    def forward(self, state: ContextState) -> torch.Tensor:
        h = state.h
        if self.input_encoder is not None:
            h = h + self.input_encoder(state.x)
        for n, encoder in zip(self._residual_slots, self.residual_encoders):
            h = h + encoder(state.inputs[-n])
        return h

    def advance(self, state: ContextState, h_in, out) -> ContextState:
        inputs = (*state.inputs, h_in)[-self.num_residual:] if self.num_residual else ()
        return ContextState(out, state.x, inputs)


def first_state(x, out, use_input: bool, num_residual: int) -> ContextState:
    """
    The state after the first module (which receives the bare input ``x``). With
    [E] on, ``x`` itself is not kept for the [Rn] encoders, as in the official code
    (the input encoder already supplies it).
    """
    inputs = () if use_input or not num_residual else (x,)
    return ContextState(out, x, inputs)


@dataclasses.dataclass(frozen=True)
class ContSup:
    """
    The ContSup context path: ``ContSup(input=True)`` is ContSup[E],
    ``ContSup(input=False, residual=1)`` ContSup[R1], both together ContSup[R1E].
    Combine with any heads (the paper's are learned, :class:`GreedyHeads`).

    :param bool input: add an encoding of the network's input ([E]).
    :param int residual: add encodings of the inputs of the ``residual`` previous
        modules ([Rn]).
    :param int hidden: channels of the input encoder's 3x3 stem (12 in ContSup).
    """

    input: bool = True
    residual: int = 0
    hidden: int = 12

    def __post_init__(self):
        check_int(self.residual, "residual", 0)
        if not self.input and not self.residual:
            raise ValueError("ContSup needs input=True or residual >= 1 (else it is plain "
                             "greedy local learning)")

    def module(self, index: int, x_shape, in_shapes) -> ContextSupplyModule | None:
        """
        The context path into module ``index`` (0-based), given the input shapes
        ``in_shapes`` of all modules so far (``in_shapes[index]`` is this one's).
        """
        if index == 0:
            return None
        residual_shapes = []
        for n in range(1, self.residual + 1):
            j = index - n  # the module whose input is n boundaries back
            usable = j > 0 or (j == 0 and not self.input)
            residual_shapes.append(in_shapes[j] if usable else None)
        return ContextSupplyModule(x_shape if self.input else None, residual_shapes,
                                   in_shapes[index], self.residual, self.hidden)


__all__ = ["ContSup", "ContextEncoder", "ContextState", "ContextSupplyModule", "first_state"]
