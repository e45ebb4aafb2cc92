"""The engine's own random-number stream, swapped in while it runs."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import torch

from .._checks import is_int

#: Seeds drawn for an engine built without one lie below this bound.
_SEED_BOUND = 2**63 - 1


def _cuda_devices() -> list[int]:
    # Only devices whose generators exist: touching CUDA would initialize it.
    if not (torch.cuda.is_available() and torch.cuda.is_initialized()):
        return []
    return list(range(torch.cuda.device_count()))


class EngineRNG:
    """
    A random-number stream that belongs to one :class:`~pyro_local.infer.LocalSVI`.

    Pyro samples from torch's global generators, so the stream is swapped in for
    the duration of each run of the engine (:meth:`active`), in the manner of
    :func:`torch.random.fork_rng`: the global CPU and CUDA states are saved, the
    engine's are set, and on exit the engine keeps its advanced states and the
    global ones are put back. Stepping an engine therefore neither draws from nor
    advances the user's global stream, and two engines stepped in turn draw what each
    would draw alone.

    :param int seed: the stream's seed; it draws what ``torch.manual_seed(seed)``
        would make the global generators draw. ``None`` (default) draws a seed from
        the global CPU generator, so engines built one after another get distinct
        streams and a seeded program stays reproducible.
    """

    def __init__(self, seed: int | None = None):
        if seed is None:
            seed = int(torch.randint(_SEED_BOUND, ()))
        self.manual_seed(seed)

    def manual_seed(self, seed: int) -> EngineRNG:
        """
        Restarts the stream from ``seed``, as :func:`torch.manual_seed` restarts
        torch's; returns the stream.

        :raises ValueError: when ``seed`` is not an int in ``[0, 2**63 - 1]``.
        """
        if not is_int(seed, 0) or seed > _SEED_BOUND:
            raise ValueError(f"seed must be an int from 0 to {_SEED_BOUND} or None, got {seed!r}")
        self.seed = seed
        self.cpu = torch.Generator().manual_seed(seed).get_state()
        #: ``{device index: state}``, filled the first time the engine runs on CUDA.
        self.cuda: dict[int, torch.Tensor] = {}
        return self

    @contextlib.contextmanager
    def active(self):
        """Makes this stream torch's global one for the duration of the block."""
        devices = _cuda_devices()
        saved_cpu = torch.get_rng_state()
        saved_cuda = {i: torch.cuda.get_rng_state(i) for i in devices}
        torch.set_rng_state(self.cpu)
        for i in devices:
            if i in self.cuda:
                torch.cuda.set_rng_state(self.cuda[i], i)
            else:
                torch.cuda.default_generators[i].manual_seed(self.seed)
        try:
            yield
        finally:
            self.cpu = torch.get_rng_state()
            for i in _cuda_devices():  # a device the block initialized included
                self.cuda[i] = torch.cuda.get_rng_state(i)
            torch.set_rng_state(saved_cpu)
            for i, state in saved_cuda.items():
                torch.cuda.set_rng_state(state, i)

    @contextlib.contextmanager
    def forked(self):
        """Like :meth:`active`, but the stream is left as it was (for dry runs)."""
        cpu, cuda = self.cpu, dict(self.cuda)
        try:
            with self.active():
                yield
        finally:
            self.cpu, self.cuda = cpu, cuda

    def state_dict(self) -> dict:
        """The stream's state, in types ``torch.load(weights_only=True)`` accepts."""
        return {"seed": self.seed, "cpu": self.cpu.clone(),
                "cuda": {i: s.clone() for i, s in self.cuda.items()}}

    def load_state_dict(self, state: Mapping) -> None:
        """
        Restores :meth:`state_dict`, or the process-wide state that checkpoints of
        format 1 saved (``{"torch": ..., "cuda": [...], "python": ..., "numpy": ...}``:
        its torch parts become the engine's stream).

        :raises ValueError: when ``state`` is malformed (nothing is changed).
        """
        try:
            if "torch" in state:  # format 1
                seed, cpu = self.seed, state["torch"]
                cuda = dict(enumerate(state.get("cuda", [])))
            else:
                seed, cpu, cuda = int(state["seed"]), state["cpu"], dict(state["cuda"])
            tensors = [cpu, *cuda.values()]
            if not all(isinstance(t, torch.Tensor) and t.dtype == torch.uint8 for t in tensors):
                raise TypeError("the states must be uint8 tensors")
            torch.Generator().set_state(cpu)  # torch checks the size
        except Exception as error:
            raise ValueError(
                f"the checkpoint's random-number state is malformed: {error}"
            ) from None
        self.seed, self.cpu = seed, cpu.clone()
        self.cuda = {int(i): s.clone() for i, s in cuda.items()}
