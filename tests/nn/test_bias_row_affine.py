"""bias_row_affine, the dense layers' one-op product, against slices and autograd."""

import pytest
import torch

from pyro_local.nn.bias_row_affine import bias_row_affine
from pyro_local.nn.weight_maps import LinearMap, WeightMap


@pytest.mark.parametrize("shape", [(5, 4), (2, 5, 4)], ids=["rows", "batched-rows"])
@pytest.mark.parametrize("scale", [1.0, 0.3])
@pytest.mark.parametrize("columns", [(3,), ()], ids=["matrix", "vector"])
def test_gradients_against_finite_differences(shape, scale, columns):
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(5, *columns, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w: bias_row_affine(x, w, scale), (x, weight))


@pytest.mark.parametrize("needs", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("columns", [(3,), ()], ids=["matrix", "vector"])
def test_values_and_gradients_equal_the_sliced_product(needs, columns):
    x = torch.randn(2, 6, 4, dtype=torch.float64).requires_grad_(needs[0])
    weight = torch.randn(5, *columns, dtype=torch.float64).requires_grad_(needs[1])
    out = bias_row_affine(x, weight, 0.5)
    expected = 0.5 * (x @ weight[:-1] + weight[-1])
    torch.testing.assert_close(out, expected)
    g = torch.randn_like(out)
    leaves = [t for t in (x, weight) if t.requires_grad]
    for a, b in zip(torch.autograd.grad(out, leaves, g), torch.autograd.grad(expected, leaves, g)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("square", [False, True])
def test_linear_map_fast_path_equals_the_general_path(square):
    """One unbatched weight takes bias_row_affine; WeightMap.apply is the general path."""
    wmap = LinearMap(4, 3)
    x = torch.randn(7, 4, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    fast = wmap.apply(x, weight, square=square)
    general = WeightMap.apply(wmap, x, weight, square=square)
    torch.testing.assert_close(fast, general)
    g = torch.randn_like(fast)
    for a, b in zip(
        torch.autograd.grad(fast, (x, weight), g), torch.autograd.grad(general, (x, weight), g)
    ):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("columns", [(3,), ()], ids=["matrix", "vector"])
def test_squared_weights(columns):
    """square_weight: the product with the weights' squares, differentiated in the
    weights themselves."""
    x = torch.randn(2, 6, 4, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(5, *columns, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w: bias_row_affine(x, w, 0.7, True), (x, weight))
    torch.testing.assert_close(
        bias_row_affine(x, weight, 0.7, square_weight=True), bias_row_affine(x, weight**2, 0.7)
    )
