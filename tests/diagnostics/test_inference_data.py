"""The ArviZ export: groups, names from the model, chains, netCDF round trip."""

import errno
import os
import subprocess
import sys

import numpy as np
import pytest

from pyro_local.diagnostics import load_netcdf, save_netcdf, to_inference_data
from pyro_local.diagnostics.inference_data import concat_fits

from .conjugate import LinearRegression, NormalMeans

HISTORY = {"l1": [5.0, 4.0, 3.5], "global": [9.0, 7.0, 6.0]}


def _fit(problem, num_samples=40, **kwargs):
    return to_inference_data(problem.model, problem.guide, problem.y, num_samples=num_samples,
                             parallel=True, **kwargs)


def test_groups_dims_and_coords():
    problem = NormalMeans(dim=3, num_data=4)
    idata = _fit(problem, history=HISTORY, thin=4, coords={"mu_groups": ["a", "b", "c"]},
                 attrs={"seed": 3, "optimizer": "adam"})
    assert set(idata.groups()) == {"posterior", "posterior_predictive", "log_likelihood",
                                   "observed_data", "sample_stats", "optimization_history"}
    # Plate names become dimension names; user coords label them.
    assert idata.posterior["mu"].dims == ("chain", "draw", "mu_groups")
    assert list(idata.posterior["mu_groups"].values) == ["a", "b", "c"]
    assert idata.log_likelihood["mu_y"].dims == ("chain", "draw", "mu_data", "mu_groups")
    assert idata.observed_data["mu_y"].dims == ("mu_data", "mu_groups")
    # Thinned groups keep the indices of their draws.
    np.testing.assert_array_equal(idata.posterior["draw"], np.arange(0, 40, 4))
    np.testing.assert_array_equal(idata.posterior_predictive["draw"], np.arange(0, 40, 4))
    assert idata.log_likelihood.sizes["draw"] == idata.sample_stats.sizes["draw"] == 40
    stats = idata.sample_stats
    np.testing.assert_allclose(stats["log_weight"], stats["log_joint"] - stats["log_q"])
    np.testing.assert_allclose(stats["log_weight_layer"].sum("layer"), stats["log_weight"])
    loss = idata.optimization_history["loss"]
    assert loss.dims == ("chain", "layer", "step")
    np.testing.assert_array_equal(loss.sel(layer="l1").values[0], HISTORY["l1"])
    assert idata.attrs["seed"] == 3 and idata.attrs["created_by"] == "pyro_local"


def test_user_dims_override_plate_names():
    problem = LinearRegression()
    X, y = problem.tensors()
    idata = to_inference_data(problem.model, problem.guide(), X, y, num_samples=10,
                              dims={"w": ["feature"], "y": ["obs"]})
    assert idata.posterior["w"].dims == ("chain", "draw", "feature")
    assert idata.log_likelihood["y"].dims == ("chain", "draw", "obs")


def test_netcdf_round_trip_keeps_everything(tmp_path):
    problem = NormalMeans(dim=4, num_data=2)
    fits = [_fit(problem, history=HISTORY, max_site_size=2, attrs={"lr": 0.01}),
            _fit(problem, history={"l1": [1.0], "global": [2.0]}, max_site_size=2)]
    idata = concat_fits(fits)
    assert "posterior_summary" in idata.groups()  # "mu" has 4 elements > max_site_size
    path = tmp_path / "run.nc"
    save_netcdf(idata, path)
    back = load_netcdf(path)
    assert set(back.groups()) == set(idata.groups())
    for group in idata.groups():
        assert back[group].identical(idata[group]), group
    assert back.attrs == idata.attrs


def test_save_netcdf_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    problem = NormalMeans(dim=2, num_data=3)
    path = save_netcdf(_fit(problem, history=HISTORY), tmp_path / "run.nc")
    before = path.read_bytes()

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="could not write .*run.nc"):
        save_netcdf(_fit(problem, history={"l1": [1.0]}), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.nc"]  # no scratch left


def test_concat_fits_stacks_chains_and_pads_history():
    problem = NormalMeans(dim=2, num_data=3)
    idata = concat_fits([_fit(problem, history=HISTORY),
                         _fit(problem, history={"l1": [1.0], "global": [2.0]})])
    assert idata.posterior.sizes["chain"] == 2
    np.testing.assert_array_equal(idata.sample_stats["chain"], [0, 1])
    loss = idata.optimization_history["loss"].sel(layer="l1").values
    np.testing.assert_array_equal(loss[1], [1.0, np.nan, np.nan])
    assert idata.attrs["num_fits"] == 2


def test_concat_fits_rejects_mismatches():
    problem = NormalMeans(dim=2, num_data=3)
    other = NormalMeans(dim=2, num_data=3, seed=1)
    with pytest.raises(ValueError, match="observed data"):
        concat_fits([_fit(problem), _fit(other)])
    with pytest.raises(ValueError, match="differ"):
        concat_fits([_fit(problem, num_samples=30), _fit(problem, num_samples=40)])
    with pytest.raises(TypeError, match="fits"):
        concat_fits([])


@pytest.mark.parametrize("kwargs,error,match", [
    ({"history": [1.0, 2.0]}, TypeError, "history"),
    ({"history": {"l1": [[1.0]]}}, ValueError, "history"),
    ({"attrs": {"config": {"nested": 1}}}, TypeError, "attrs"),
    ({"dims": {"mu": []}}, ValueError, "dims"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        _fit(NormalMeans(dim=2), num_samples=2, **kwargs)


def test_import_does_not_load_arviz_or_matplotlib():
    code = ("import sys, pyro_local, pyro_local.diagnostics; "
            "print([m for m in ('arviz', 'xarray', 'matplotlib') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_model_without_observations():
    import pyro
    import pyro.distributions as dist

    def model():
        pyro.sample("z", dist.Normal(0.0, 1.0))

    idata = to_inference_data(model, model, num_samples=25)
    assert set(idata.groups()) == {"posterior", "sample_stats"}
    np.testing.assert_allclose(idata.sample_stats["log_weight"], 0.0)
