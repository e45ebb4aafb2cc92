"""Batched random crops and flips against explicit per-example references."""

import pytest
import torch

from pyro_local.data import RandomCropFlip
from pyro_local.data.augment import crop, hflip, random_crop, random_hflip, sample_crop_offsets

Z = 5.0  # standard errors allowed in the frequency checks (false alarm 6e-7 each)


def _generator(device, seed=0):
    return torch.Generator(device=device).manual_seed(seed)


def _reference_crop(image, oy, ox, padding, fill=0.0):
    # One example: copy it into the middle of a filled canvas, then slice the window.
    c, h, w = image.shape
    canvas = torch.full((c, h + 2 * padding, w + 2 * padding), fill, dtype=image.dtype)
    canvas[:, padding : padding + h, padding : padding + w] = image
    return canvas[:, oy : oy + h, ox : ox + w]


@pytest.mark.parametrize("padding", [1, 4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_random_crop_equals_slicing_the_padded_image(device, padding, dtype):
    images = (torch.rand(64, 2, 28, 28, device=device) * 255).to(dtype)
    offsets = sample_crop_offsets(64, padding, _generator(device), device)
    out = random_crop(images, padding, _generator(device))
    assert out.shape == images.shape and out.dtype == dtype and out.device == device
    for n in range(64):
        oy, ox = offsets[n].tolist()
        assert 0 <= oy <= 2 * padding and 0 <= ox <= 2 * padding
        assert torch.equal(out[n].cpu(), _reference_crop(images[n].cpu(), oy, ox, padding))


def test_each_example_gets_its_own_offset(device):
    offsets = sample_crop_offsets(64, 4, _generator(device), device)
    assert len(offsets.unique(dim=0)) > 1
    same = torch.rand(1, 1, 28, 28, device=device).expand(64, 1, 28, 28)
    out = random_crop(same, 4, _generator(device))
    assert len(out.flatten(1).unique(dim=0)) == len(offsets.unique(dim=0))


def test_offsets_are_uniform_over_the_window():
    # 9 values (padding 4), 18000 draws per axis: each count within 5 standard errors of
    # its expectation 2000, with sd sqrt(18000 * 1/9 * 8/9).
    offsets = sample_crop_offsets(18000, 4, _generator("cpu"))
    sd = (18000 * (1 / 9) * (8 / 9)) ** 0.5
    for axis in range(2):
        counts = offsets[:, axis].bincount(minlength=9)
        assert len(counts) == 9
        assert torch.all((counts - 2000).abs() < Z * sd)


def test_known_offsets():
    image = torch.arange(1, 17, dtype=torch.float32).reshape(1, 1, 4, 4)
    centre = crop(image, torch.tensor([[2, 2]]), padding=2)
    assert torch.equal(centre, image)
    corner = crop(image, torch.tensor([[0, 0]]), padding=2)
    # The window starts 2 above and 2 left of the image: the image moves down-right.
    assert torch.equal(corner[0, 0, 2:, 2:], image[0, 0, :2, :2])
    assert corner[0, 0, :2].abs().sum() == 0 and corner[0, 0, :, :2].abs().sum() == 0
    filled = crop(image, torch.tensor([[4, 4]]), padding=2, fill=-1.0)
    assert torch.equal(filled[0, 0, :2, :2], image[0, 0, 2:, 2:])
    assert torch.all(filled[0, 0, 2:] == -1) and torch.all(filled[0, 0, :, 2:] == -1)
    assert torch.equal(crop(image, torch.zeros(1, 2, dtype=torch.int64), padding=0), image)


def test_hflip_equals_torch_flip_where_masked(device):
    images = torch.rand(10, 3, 5, 7, device=device)
    mask = torch.tensor([True, False] * 5, device=device)
    out = hflip(images, mask)
    for n in range(10):
        expected = torch.flip(images[n], dims=[-1]) if mask[n] else images[n]
        assert torch.equal(out[n], expected)


def test_random_hflip_flips_a_fraction_p(device):
    images = torch.rand(4000, 1, 4, 6, device=device)
    out = random_hflip(images, p=0.3, generator=_generator(device, 1))
    mask = torch.rand(4000, generator=_generator(device, 1), device=device) < 0.3
    assert torch.equal(out, hflip(images, mask))
    sd = (4000 * 0.3 * 0.7) ** 0.5
    assert abs(mask.sum().item() - 1200) < Z * sd
    assert torch.equal(random_hflip(images, p=0.0), images)
    assert torch.equal(random_hflip(images, p=1.0), images.flip(-1))


def test_random_crop_flip_is_crop_then_flip(device):
    images = torch.rand(32, 3, 28, 28, device=device)
    out = RandomCropFlip(padding=4)(images, _generator(device, 2))
    g = _generator(device, 2)
    expected = random_hflip(random_crop(images, 4, g), 0.5, g)
    assert torch.equal(out, expected)
    assert repr(RandomCropFlip()) == "RandomCropFlip(padding=4, flip_prob=0.5)"


def test_bad_input():
    images = torch.rand(2, 1, 4, 4)
    with pytest.raises(ValueError, match=r"images: expected a batch of shape \(N, C, H, W\)"):
        random_crop(images.flatten(1))
    with pytest.raises(TypeError, match="images: expected a torch.Tensor"):
        random_crop([[0.0]])
    with pytest.raises(ValueError, match="padding: expected an int >= 0"):
        random_crop(images, padding=-1)
    with pytest.raises(ValueError, match=r"offsets: expected an int64 tensor of shape \(2, 2\)"):
        crop(images, torch.zeros(3, 2, dtype=torch.int64), padding=1)
    with pytest.raises(ValueError, match=r"offsets: expected values in \[0, 2\]"):
        crop(images, torch.tensor([[0, 3], [1, 1]]), padding=1)
    with pytest.raises(ValueError, match=r"mask: expected a bool tensor of shape \(2,\)"):
        hflip(images, torch.ones(2))
    with pytest.raises(ValueError, match=r"p: expected a probability in \[0, 1\]"):
        random_hflip(images, p=1.5)
    with pytest.raises(ValueError, match="flip_prob"):
        RandomCropFlip(flip_prob=-0.1)
