"""Weight maps against explicit rows: unfold for convolutions, loops for batched weights."""

import pytest
import torch
import torch.nn.functional as F

from pyro_local.nn.weight_maps import Conv2dMap, LinearMap


def _rows(wmap, x):
    """The explicit rows ``c [a, 1]`` of the weight map, shape ``(..., L, n)``."""
    if isinstance(wmap, LinearMap):
        a = x
    else:
        lead, image = x.shape[:-3], x.shape[-3:]
        cols = F.unfold(
            x.reshape((-1,) + image),
            wmap.kernel_size,
            dilation=wmap.dilation,
            padding=wmap.padding,
            stride=wmap.stride,
        )
        a = cols.mT.reshape(lead + cols.mT.shape[1:])
    if wmap.bias_row:
        a = torch.cat([a, torch.ones_like(a[..., :1])], -1)
    return wmap.scale * a


def _to_output_layout(wmap, b, x):
    """Reshape explicit ``(..., L, p)`` products to the map's output layout."""
    if isinstance(wmap, LinearMap):
        return b
    out = wmap.apply(x, torch.zeros(wmap.weight_shape, dtype=x.dtype))
    return b.mT.reshape(b.shape[:-2] + out.shape[-3:])


MAPS = {
    "linear": (lambda: LinearMap(4, 3), (5, 4)),
    "linear-nobias-unscaled": (lambda: LinearMap(4, 3, bias_row=False, input_scale=None), (5, 4)),
    "conv": (lambda: Conv2dMap(2, 3, 3, padding=1), (2, 2, 5, 5)),
    "conv-strided": (lambda: Conv2dMap(2, 3, (2, 3), stride=2, dilation=(1, 2)), (3, 2, 7, 8)),
}


@pytest.mark.parametrize("name", MAPS)
@pytest.mark.parametrize("square", [False, True])
def test_apply_matches_explicit_rows(name, square):
    make, shape = MAPS[name]
    wmap = make()
    x = torch.randn(shape, dtype=torch.float64)
    w = torch.randn(wmap.weight_shape, dtype=torch.float64)
    rows = _rows(wmap, x)
    expected = (rows.pow(2) if square else rows) @ w
    torch.testing.assert_close(wmap.apply(x, w, square), _to_output_layout(wmap, expected, x))


@pytest.mark.parametrize("name", MAPS)
@pytest.mark.parametrize("x_batched", [False, True])
def test_batched_weights_match_loop(name, x_batched):
    """Weights (S, 1, n, p) from a vectorized Predictive: each sample applied alone."""
    make, shape = MAPS[name]
    wmap = make()
    num_samples = 3
    x = torch.randn(((num_samples,) if x_batched else ()) + shape, dtype=torch.float64)
    w = torch.randn((num_samples, 1) + wmap.weight_shape, dtype=torch.float64)
    out = wmap.apply(x, w)
    for s in range(num_samples):
        xs = x[s] if x_batched else x
        torch.testing.assert_close(out[s], wmap.apply(xs, w[s, 0]))


def test_linear_per_example_weights():
    wmap = LinearMap(4, 3)
    x = torch.randn(5, 4, dtype=torch.float64)
    w = torch.randn(5, 5, 3, dtype=torch.float64)
    out = wmap.apply(x, w)
    for i in range(5):
        torch.testing.assert_close(out[i], wmap.apply(x[i : i + 1], w[i])[0])


def test_conv_rejects_per_example_weights():
    wmap = Conv2dMap(1, 2, 3)
    with pytest.raises(ValueError, match="shared across the data dimension"):
        wmap.apply(torch.randn(4, 1, 5, 5), torch.randn(4, wmap.rows, 2))


def test_bad_arguments():
    with pytest.raises(ValueError, match="input_scale"):
        LinearMap(3, 2, input_scale=-1.0)
    with pytest.raises(TypeError, match="kernel_size"):
        Conv2dMap(1, 2, (3, 3, 3))
    with pytest.raises(ValueError, match=r"expected shape \(\.\.\., N, 4\)"):
        LinearMap(4, 2).check_input(torch.randn(3, 5))
    with pytest.raises(ValueError, match="weight: expected shape"):
        LinearMap(4, 2).check_weight(torch.randn(4, 2))
