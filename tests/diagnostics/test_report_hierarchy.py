"""The report of a rectified hierarchy: binary data, per-datum latents, sparsity."""

import re

import pyro
import torch

from pyro_local import diagnostics as D
from pyro_local.guides import StructuredRectifiedGuide
from pyro_local.models import RectifiedHierarchy


def test_hierarchy_report_shows_sparsity_and_skips_loo():
    pyro.set_rng_seed(0)
    model = RectifiedHierarchy(x_dim=16, latent_dims=[30, 8])
    guide = StructuredRectifiedGuide(model)
    x = (torch.rand(40, 16) < 0.3).float()
    model.eval()
    guide.eval()
    # z1 (40 x 30 per draw) is summarised, z2 (40 x 8) kept: sparsity reads both.
    idata = D.to_inference_data(model, guide, x, num_samples=60, parallel=True,
                                max_site_size=500)
    assert "z1" in idata.posterior_summary and "z2" in idata.posterior.data_vars
    page = D.build_report(idata)
    sparsity = page.split('id="sparsity-of-rectified-layers"')[1]
    rows = re.findall(r"<tr><td>(z\d)</td><td>(\d+)</td><td>([0-9.]+)</td>", sparsity)
    assert [(name, units) for name, units, _ in rows] == [("z1", "30"), ("z2", "8")]
    # The fraction of zeros is P(z = 0) averaged over units, data and draws.
    expected = float((idata.posterior["z2"].values == 0).mean())
    assert float(rows[1][2]) == round(expected, 4)
    # Per-datum latents: LOO from these draws is undefined, and the report says so.
    assert "Not computed: the model has latent variables per data point" in page
    assert "x (binary)" in page and "of its 16 features" in page
