"""Binarizing grey-scale images for generative models with Bernoulli likelihoods.

Three schemes, which differ in when the randomness is drawn:

- :func:`binarize_static`: ONE Bernoulli draw, fixed by a seed. The same seed gives the
  same binary images on every call and every device. Use it for a fixed evaluation set
  (the usual "statically binarized" test set).
- :func:`binarize_dynamic`: a FRESH Bernoulli draw on every call. Call it on each
  training batch, so the model sees a new binary sample of each image every epoch
  (the usual "dynamically binarized" training set; it regularises).
- :func:`binarize_threshold`: no randomness; a pixel is 1 where its intensity exceeds a
  threshold.

Each takes intensities in [0, 1] (floats, e.g. from ``load(..., normalize="unit")``) or
raw uint8 in [0, 255] (read as ``x / 255``), of any shape, and returns a float tensor of
0s and 1s of the same shape on the same device.
"""

import torch

from pyro_local._checks import check_int

__all__ = ["binarize_dynamic", "binarize_static", "binarize_threshold"]


def _probabilities(images, dtype):
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images: expected a torch.Tensor, got {type(images).__name__}")
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype: expected a floating torch.dtype, got {dtype!r}")
    if images.dtype == torch.uint8:
        return images.to(dtype or torch.get_default_dtype()) / 255.0
    if not images.dtype.is_floating_point:
        raise TypeError(
            f"images: expected floats in [0, 1] or uint8 in [0, 255], got {images.dtype}"
        )
    # One reduction, so the check costs a single synchronisation on a GPU.
    if images.numel() and not bool(((images >= 0) & (images <= 1)).all()):
        raise ValueError(
            "images: expected intensities in [0, 1], got values in "
            f"[{images.min().item():.4g}, {images.max().item():.4g}]; load with "
            "normalize='unit' (standardised images cannot be binarized)"
        )
    return images if dtype is None else images.to(dtype)


def binarize_static(images, seed, dtype=None):
    """
    Static binarization: one Bernoulli draw per pixel, ``b ~ Bernoulli(x)``, fixed by
    ``seed``. Calling it again with the same seed returns the same tensor.

    The draw is ``u < x`` with ``u`` uniform in float64, drawn on the CPU from a
    ``torch.Generator`` seeded with ``seed``, and moved to the images' device: the
    binary images are a function of the seed and the intensities alone, the same on
    every device and for any input dtype that holds the same intensities (uint8 ``x``
    is read as ``x / 255`` in float64).

    :param torch.Tensor images: intensities in [0, 1], or uint8 in [0, 255].
    :param int seed: the seed of the draw.
    :param torch.dtype dtype: the result's dtype; default the input's float dtype
        (the default dtype for uint8 input).
    :returns: 0s and 1s, with the shape and device of ``images``.
    :rtype: torch.Tensor

    Example::

        test = load("fashion-mnist-small", "test")
        x = binarize_static(test.images, seed=0)
        assert torch.equal(x, binarize_static(test.images, seed=0))
    """
    check_int(seed, "seed", None)
    probs = _probabilities(images, dtype)  # validates, and fixes the result's dtype
    exact = images.cpu().double()
    if images.dtype == torch.uint8:
        exact = exact / 255.0
    generator = torch.Generator(device="cpu").manual_seed(seed)
    uniform = torch.rand(exact.shape, generator=generator, dtype=torch.float64)
    return (uniform < exact).to(device=images.device, dtype=probs.dtype)


def binarize_dynamic(images, generator=None, dtype=None):
    """
    Dynamic binarization: a fresh Bernoulli draw per pixel, ``b ~ Bernoulli(x)``, on
    every call; two calls give different binary images. Apply it to each batch as it is
    used. The draw is made on the images' device.

    :param torch.Tensor images: intensities in [0, 1], or uint8 in [0, 255].
    :param torch.Generator generator: the random stream, on the images' device; default
        torch's global generator. Passing one makes a run reproducible.
    :param torch.dtype dtype: the result's dtype, as for :func:`binarize_static`.
    :returns: 0s and 1s, with the shape and device of ``images``.
    :rtype: torch.Tensor
    """
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator, got {type(generator).__name__}")
    probs = _probabilities(images, dtype)
    return torch.bernoulli(probs, generator=generator)


def binarize_threshold(images, threshold=0.5, dtype=None):
    """
    Deterministic binarization: 1 where the intensity is strictly greater than
    ``threshold``, else 0.

    :param torch.Tensor images: intensities in [0, 1], or uint8 in [0, 255].
    :param float threshold: in [0, 1].
    :param torch.dtype dtype: the result's dtype, as for :func:`binarize_static`.
    :returns: 0s and 1s, with the shape and device of ``images``.
    :rtype: torch.Tensor
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise TypeError(f"threshold: expected a float in [0, 1], got {type(threshold).__name__}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold: expected a float in [0, 1], got {threshold}")
    probs = _probabilities(images, dtype)
    return (probs > threshold).to(probs.dtype)
