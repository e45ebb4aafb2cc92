"""Which of torch's optimizer kernels the engine's per-layer optimizers use.

torch picks its slowest implementation on CPU by default, one loop over the
parameters per operation. The engine asks for more unless the user chose
(``optim_args={"fused": ...}`` or ``{"foreach": ...}``):

- ``fused``, where the optimizer has a fused kernel for the parameters' device and
  dtype (Adam, AdamW, SGD and Adagrad on CPU and CUDA in torch 2.13): one pass over
  each parameter per step and no temporaries;
- else ``foreach``, one kernel per operation over all of a layer's parameters. Its
  temporaries (Adam's square roots of the second moments, for one) are the size of
  the layer's parameters: at the peak of an update they add that much memory
  (``{"foreach": False}`` trades the speed for it; docs/engine.md shows both).

The kernels differ from one another in the last bits of an update, not in what they
compute.
"""

from __future__ import annotations

import inspect


def optimizer_kernels(optim, params, args: dict) -> dict:
    """
    ``args`` for ``optim(params, **args)`` with ``fused`` or ``foreach`` chosen as the
    module docstring says, unless ``args`` already holds either.

    :param type optim: a ``torch.optim.Optimizer`` class.
    :param list params: the parameters it will update.
    :param dict args: the user's keyword arguments.
    """
    if "fused" in args or "foreach" in args:
        return args
    accepted = inspect.signature(optim.__init__).parameters
    if "fused" in accepted:
        try:
            # Building an optimizer allocates no state: it only checks that a fused
            # kernel exists for these parameters' devices and dtypes.
            optim(params, **args, fused=True)
            return {**args, "fused": True}
        except (RuntimeError, ValueError, TypeError):
            pass
    if "foreach" in accepted:
        return {**args, "foreach": True}
    return args
