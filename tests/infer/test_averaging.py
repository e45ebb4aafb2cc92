"""ParameterEMA: the average against its closed form, swapping, saving and errors."""

import pytest
import torch

from pyro_local.infer.averaging import ParameterEMA


def test_average_matches_the_recursion_and_swaps_back():
    p = torch.nn.Parameter(torch.zeros(3))
    ema = ParameterEMA([p, p], decay=0.9)  # a parameter given twice is averaged once
    assert len(ema.params) == 1
    expected = torch.zeros(3)
    for t in range(1, 30):
        with torch.no_grad():
            p.fill_(float(t))
        ema.update()
        d = min(0.9, (1 + t) / (10 + t))
        expected = d * expected + (1 - d) * float(t)
    torch.testing.assert_close(ema.shadow[0], expected)
    with ema.swapped():
        torch.testing.assert_close(p.detach(), expected)
    assert (p.detach() == 29.0).all()
    ema.copy_to()
    torch.testing.assert_close(p.detach(), expected)


def test_state_dict_round_trip_and_errors():
    p = torch.nn.Parameter(torch.randn(2, 2))
    ema = ParameterEMA([p])
    ema.update()
    other = ParameterEMA([torch.nn.Parameter(torch.zeros(2, 2))])
    other.load_state_dict(ema.state_dict())
    torch.testing.assert_close(other.shadow[0], ema.shadow[0])
    assert other.steps == 1
    with pytest.raises(ValueError, match="saved average"):
        ParameterEMA([torch.nn.Parameter(torch.zeros(3))]).load_state_dict(ema.state_dict())
    with pytest.raises(ValueError, match="decay"):
        ParameterEMA([p], decay=1.0)
