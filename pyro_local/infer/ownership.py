"""Which layer owns which parameter: found from the gradient graph, checked for leaks."""

from __future__ import annotations

from collections.abc import Mapping

import torch


class LayerLeakError(ValueError):
    """A parameter receives gradient from the losses of more than one layer."""


def owning_module(fn):
    """
    The ``torch.nn.Module`` behind a model or guide: the object itself, the module a
    bound method belongs to (``vae.model`` in Pyro's VAE tutorial), or ``None``.
    """
    if isinstance(fn, torch.nn.Module):
        return fn
    owner = getattr(fn, "__self__", None)
    return owner if isinstance(owner, torch.nn.Module) else None


def named_module_parameters(modules: Mapping[str, object]) -> dict[str, torch.nn.Parameter]:
    """
    The parameters of every ``torch.nn.Module`` in ``modules`` (others are skipped),
    named ``"<key>.<parameter name>"``, each parameter once.
    """
    out: dict[str, torch.nn.Parameter] = {}
    seen: set[int] = set()
    for key, module in modules.items():
        if not isinstance(module, torch.nn.Module):
            continue
        for name, p in module.named_parameters():
            if id(p) not in seen:
                seen.add(id(p))
                out[f"{key}.{name}"] = p
    return out


def assign_parameters(
    layer_losses: Mapping[str, torch.Tensor],
    params: Mapping[str, torch.Tensor],
    strict: bool = True,
) -> tuple[dict[str, list[str]], list[str]]:
    """
    Assigns each parameter to the layer whose loss reaches it in the autograd graph.

    :param layer_losses: ``{layer: loss}`` in network order, with graphs retained.
    :param params: ``{name: parameter}`` candidates.
    :param bool strict: raise :class:`LayerLeakError` when a parameter is reached by
        several layers' losses (a gradient crossing a layer boundary); otherwise the
        first such layer owns it.
    :returns: ``({layer: [parameter names]}, [names reached by no loss])``.
    """
    names = [n for n, p in params.items() if p.requires_grad]
    tensors = [params[n] for n in names]
    reached_by: dict[str, list[str]] = {n: [] for n in names}
    for layer, loss in layer_losses.items():
        if not loss.requires_grad:
            continue
        grads = torch.autograd.grad(loss, tensors, retain_graph=True, allow_unused=True)
        for n, g in zip(names, grads):
            if g is not None:
                reached_by[n].append(layer)
    leaks = {n: ls for n, ls in reached_by.items() if len(ls) > 1}
    if leaks and strict:
        lines = "\n".join(f"  {n}: layers {ls}" for n, ls in leaks.items())
        raise LayerLeakError(
            "gradients cross layer boundaries; these parameters are reached by the losses "
            f"of several layers:\n{lines}\nCut the tensors that enter a layer "
            "(pyro_local.poutine.cut, or the layer(...) decorator), or pass strict=False "
            "to train jointly with per-layer reporting"
        )
    owned: dict[str, list[str]] = {layer: [] for layer in layer_losses}
    unused = []
    for n in names:
        if reached_by[n]:
            owned[reached_by[n][0]].append(n)
        else:
            unused.append(n)
    return owned, unused
