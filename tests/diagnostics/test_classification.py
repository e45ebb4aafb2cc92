import math

import pytest
import torch

from pyro_local.diagnostics import classifier_metrics
from pyro_local.diagnostics.classification import ood_images


def test_metrics_of_a_hand_made_predictive():
    # Two draws, two inputs, two classes. Averaged: [0.8, 0.2] and [0.5, 0.5].
    draws = torch.tensor([[[0.9, 0.1], [0.4, 0.6]], [[0.7, 0.3], [0.6, 0.4]]])
    labels = torch.tensor([0, 1])
    m = classifier_metrics(draws, labels, num_bins=4)
    assert m["accuracy"] == pytest.approx(0.5)  # the tie at 0.5 goes to class 0
    assert m["nll"] == pytest.approx(-(math.log(0.8) + math.log(0.5)) / 2)
    assert m["brier"] == pytest.approx(((0.2**2 + 0.2**2) + (0.5**2 + 0.5**2)) / 2)
    # Quarter-width bins by confidence: 0.5 (wrong) and 0.8 (right) fall apart.
    assert m["ece"] == pytest.approx(0.5 * 0.5 + 0.5 * 0.2)
    h = lambda p: -sum(q * math.log(q) for q in p)  # noqa: E731
    assert m["entropy"] == pytest.approx((h([0.8, 0.2]) + h([0.5, 0.5])) / 2)
    mi = (h([0.8, 0.2]) - (h([0.9, 0.1]) + h([0.7, 0.3])) / 2
          + h([0.5, 0.5]) - (h([0.4, 0.6]) + h([0.6, 0.4])) / 2) / 2
    assert m["mutual_information"] == pytest.approx(mi)


def test_ood_auroc_is_one_when_every_outlier_is_less_certain():
    confident = torch.tensor([[[0.99, 0.01]] * 5])
    uncertain = torch.tensor([[[0.5, 0.5]] * 4])
    m = classifier_metrics(confident, torch.zeros(5, dtype=torch.long), {"noise": uncertain})
    assert m["auroc_noise"] == pytest.approx(1.0)
    assert m["entropy_noise"] == pytest.approx(math.log(2))


@pytest.mark.parametrize("shape", [(3, 1, 4, 4), (3, 16)])
def test_ood_images_keep_the_layout_and_the_value_range(shape):
    images = torch.rand(shape) * 2 - 0.5
    out = ood_images(images, seed=1)
    assert out["flipped"].shape == out["noise"].shape == images.shape
    grid = images.reshape(3, 1, 4, 4)
    assert torch.equal(out["flipped"].reshape(3, 1, 4, 4), grid.flip(-2))
    assert out["noise"].min() >= images.min() and out["noise"].max() <= images.max()
    assert torch.equal(ood_images(images, seed=1)["noise"], out["noise"])


def test_bad_shapes_name_the_argument():
    with pytest.raises(ValueError, match="draw_probs"):
        classifier_metrics(torch.rand(4, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="images"):
        ood_images(torch.rand(2, 15))
