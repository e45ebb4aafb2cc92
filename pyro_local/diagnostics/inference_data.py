"""Export a trained model and guide to :class:`arviz.InferenceData`.

ArviZ's own ``from_pyro`` reads only MCMC runs. :func:`to_inference_data` draws from a
guide instead (see :func:`~pyro_local.diagnostics.draws.collect_draws` for the draws
and the policy for large sites) and lays the result out in ArviZ's groups, with one
chain per fit:

``posterior``
    the kept latent (and deterministic) sites, every ``thin``-th draw; the ``draw``
    coordinate holds the draw's index, so thinned draws line up with the other groups.
    Of each summarised site, the draws of a few evenly spaced elements, dims
    ``(chain, draw, <site>_element)`` with the elements' flat indices as coordinate, so
    that every export has a posterior ArviZ can read.
``posterior_summary``
    sites too large to keep (``max_site_size``): per-element posterior ``mean``, ``sd``
    and ``p_zero`` (probability of exactly 0) over all draws, dims
    ``(chain, statistic, ...)``.
``posterior_predictive``
    replicated data for each observed site, for the draws kept in ``posterior``.
``log_likelihood``
    pointwise ``log p(x_i | theta)`` for each observed site, every draw, so that
    :func:`arviz.loo` runs (it assumes exact posterior draws; for a guide's draws use
    :func:`~pyro_local.diagnostics.loo.variational_loo`).
``observed_data``
    the observed values.
``sample_stats``
    per draw: ``log_joint`` = log p(x, theta), ``log_q`` = log q(theta) and
    ``log_weight`` = their difference, plus ``log_joint_layer``, ``log_q_layer`` and
    ``log_weight_layer`` split by ``layer`` (``"global"`` for sites outside any layer).
    Its attributes ``latent_dimension`` and ``latent_sizes`` (JSON, per layer) count the
    latent elements of one draw.
``optimization_history``
    ``loss`` with dims ``(chain, layer, step)``: each layer's negative local ELBO at each
    optimisation step, as the engine recorded it (``NaN`` pads shorter runs).

The attribute ``provenance`` (JSON) records the library's version and commit, the date
and the device of the export (:func:`~pyro_local.diagnostics.provenance.provenance`); a
run's own record can replace it. Each site's variables carry what the model's
distribution says of it as attributes:
``distribution`` (its class name) and, for latent sites whose prior mean and standard
deviation are the same for every element, ``prior_mean`` and ``prior_sd``.
Dimensions are named after the model's plates; other dimensions are called
``<site>_dim_<i>`` as ArviZ does, unless ``dims`` names them. Run metadata and the
user's ``attrs`` are the InferenceData's own attributes. All of it survives
:func:`save_netcdf` / :func:`load_netcdf` (h5netcdf engine).
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping, Sequence

import numpy as np

import pyro_local

from ..infer.checkpoint import atomic_write
from .draws import collect_draws
from .provenance import PROVENANCE_ATTR, provenance
from .site_summary import STATISTICS

__all__ = ["concat_fits", "draws_to_inference_data", "load_netcdf", "save_netcdf",
           "to_inference_data"]

HISTORY_GROUP = "optimization_history"
SUMMARY_GROUP = "posterior_summary"
_CHAIN_GROUPS = ("posterior", SUMMARY_GROUP, "posterior_predictive", "log_likelihood",
                 "sample_stats", HISTORY_GROUP)


def _dim_names(site, rank, plates, dims):
    if dims is not None and site in dims:
        names = list(dims[site])
        if len(names) < rank:
            raise ValueError(
                f"dims[{site!r}]: expected {rank} dimension names, got {len(names)}"
            )
        return names[:rank]
    plates = plates.get(site, ())
    return [
        plates[i] if i < len(plates) and plates[i] is not None else f"{site}_dim_{i}"
        for i in range(rank)
    ]


def _dataset(variables, coords, attrs=None):
    import xarray as xr

    data_vars = {name: (dims, np.asarray(value)) for name, (dims, value) in variables.items()}
    used = {d for dims, _ in variables.values() for d in dims}
    return xr.Dataset(
        data_vars, coords={k: v for k, v in coords.items() if k in used}, attrs=attrs or {}
    )


def _with_facts(ds, facts):
    for name in ds.data_vars:
        ds[name].attrs.update(facts.get(name, {}))
    return ds


def _check_history(history):
    if not isinstance(history, Mapping):
        raise TypeError(
            f"history: expected a dict of layer name -> list of losses, got "
            f"{type(history).__name__}"
        )
    out = {}
    for layer, losses in history.items():
        if not isinstance(layer, str):
            raise TypeError(f"history: expected str layer names, got {layer!r}")
        values = np.asarray(losses, dtype=np.float64)
        if values.ndim != 1:
            raise ValueError(
                f"history[{layer!r}]: expected a flat sequence of losses, got shape "
                f"{values.shape}"
            )
        out[layer] = values
    return out


def _check_attrs(attrs):
    if not isinstance(attrs, Mapping):
        raise TypeError(f"attrs: expected a dict, got {type(attrs).__name__}")
    for key, value in attrs.items():
        if not isinstance(key, str):
            raise TypeError(f"attrs: expected str keys, got {key!r}")
        if isinstance(value, bool) or not isinstance(value, str | numbers.Real):
            raise TypeError(
                f"attrs[{key!r}]: expected a str, int or float (what netCDF can store), got "
                f"{type(value).__name__}"
            )
    return dict(attrs)


def history_dataset(history):
    """The ``optimization_history`` group of one fit.

    :param dict history: layer name -> the layer's loss (negative local ELBO) per step,
        as ``pyro_local.infer.LocalSVI`` records it.
    :rtype: xarray.Dataset
    """
    history = _check_history(history)
    steps = max((len(v) for v in history.values()), default=0)
    loss = np.full((1, len(history), steps), np.nan)
    for i, values in enumerate(history.values()):
        loss[0, i, : len(values)] = values
    coords = {"chain": [0], "layer": list(history), "step": np.arange(steps)}
    attrs = {"loss": "negative local ELBO of each layer at each optimisation step"}
    return _dataset({"loss": (("chain", "layer", "step"), loss)}, coords, attrs)


def draws_to_inference_data(draws, *, history=None, dims=None, coords=None, attrs=None):
    """Lays out :class:`~pyro_local.diagnostics.draws.Draws` as one chain of an
    :class:`arviz.InferenceData` (groups described in the module docstring).

    :param Draws draws: from :func:`~pyro_local.diagnostics.draws.collect_draws`.
    :param dict history: layer name -> loss per step, or ``None``.
    :param dict dims: site name -> names of its dimensions (overrides plate names).
    :param dict coords: dimension name -> coordinate values.
    :param dict attrs: extra attributes (str, int or float values) of the InferenceData.
    :rtype: arviz.InferenceData
    """
    import arviz as az

    if dims is not None and not isinstance(dims, Mapping):
        raise TypeError(f"dims: expected a dict of site -> dimension names, got {dims!r}")
    if coords is not None and not isinstance(coords, Mapping):
        raise TypeError(f"coords: expected a dict of dimension -> values, got {coords!r}")
    base = {
        "chain": [0],
        "draw": np.arange(draws.num_samples),
        "kept_draw": np.arange(0, draws.num_samples, draws.thin),
        "statistic": list(STATISTICS),
        "layer": list(draws.log_joint),
    }
    for name, (index, _) in draws.latent_subset.items():
        base[f"{name}_element"] = index.numpy()
    base.update(coords or {})

    def site_vars(tensors, lead, rank_of=None):
        out = {}
        for name, value in tensors.items():
            value = value.numpy()
            rank = value.ndim - 1 if rank_of is None else rank_of(name)
            out[name] = ((*lead, *_dim_names(name, rank, draws.plates, dims)), value[None])
        return out

    thinned = ("chain", "kept_draw")
    subsets = {name: ((*thinned, f"{name}_element"), values.numpy()[None])
               for name, (_, values) in draws.latent_subset.items()}
    groups = {
        "posterior": {**site_vars(draws.latent, thinned), **subsets},
        SUMMARY_GROUP: site_vars(draws.latent_summary, ("chain", "statistic")),
        "posterior_predictive": site_vars(draws.predictive, thinned),
        "log_likelihood": site_vars(draws.log_likelihood, ("chain", "draw")),
    }
    observed = {
        name: (tuple(_dim_names(name, v.dim(), draws.plates, dims)), v.numpy())
        for name, v in draws.observed.items()
    }
    log_joint = np.stack([v.numpy() for v in draws.log_joint.values()], -1)[None]
    log_q = np.stack([v.numpy() for v in draws.log_q.values()], -1)[None]
    per_draw, per_layer = ("chain", "draw"), ("chain", "draw", "layer")
    stats = {
        "log_joint": (per_draw, log_joint.sum(-1)),
        "log_q": (per_draw, log_q.sum(-1)),
        "log_weight": (per_draw, log_joint.sum(-1) - log_q.sum(-1)),
        "log_joint_layer": (per_layer, log_joint),
        "log_q_layer": (per_layer, log_q),
        "log_weight_layer": (per_layer, log_joint - log_q),
    }

    datasets = {}
    for group, variables in groups.items():
        if variables:
            ds = _dataset(variables, base)
            if "kept_draw" in ds.dims:
                ds = ds.rename({"kept_draw": "draw"})
            datasets[group] = _with_facts(ds, draws.facts)
    for name in subsets:
        datasets["posterior"][name].attrs["subset"] = (
            f"draws of the elements at these flat indices of {name!r} (shape "
            f"{tuple(draws.latent_summary[name].shape[1:])}); {SUMMARY_GROUP} holds all of them"
        )
    if observed:
        datasets["observed_data"] = _with_facts(_dataset(observed, base), draws.facts)
    datasets["sample_stats"] = _dataset(stats, base, {
        "latent_sizes": json.dumps(draws.latent_sizes),
        "latent_dimension": int(sum(draws.latent_sizes.values())),
    })
    if history is not None:
        datasets[HISTORY_GROUP] = history_dataset(history)
    meta = {
        "created_by": "pyro_local",
        "pyro_local_version": pyro_local.__version__,
        "inference_library": "pyro",
        "num_draws": draws.num_samples,
        "thin": draws.thin,
        PROVENANCE_ATTR: json.dumps(provenance(device=draws.device)),
    }
    meta.update(_check_attrs(attrs or {}))
    return az.InferenceData(attrs=meta, **datasets)


def to_inference_data(
    model,
    guide,
    *args,
    num_samples=1000,
    sites=None,
    max_site_size=10_000,
    subset_size=16,
    thin=1,
    obs_sites=None,
    parallel=False,
    chunk_size=None,
    progress=False,
    history=None,
    dims=None,
    coords=None,
    attrs=None,
    **kwargs,
):
    """Draws from a trained guide and exports one fit as an :class:`arviz.InferenceData`.

    The keyword-only options of drawing are those of
    :func:`~pyro_local.diagnostics.draws.collect_draws`; those of the layout are
    ``history`` (layer name -> loss per step), ``dims`` (site name -> names of its
    dimensions, overriding plate names), ``coords`` (dimension name -> coordinate
    values) and ``attrs`` (extra str, int or float attributes). Every other argument is
    passed to model and guide, so the model must not take keyword arguments of the same
    names. Several fits (e.g. from different seeds) become chains with
    :func:`concat_fits`.

    :returns: the fit as one chain.
    :rtype: arviz.InferenceData

    Example::

        idata = to_inference_data(model, guide, x, y, num_samples=1000,
                                  history=svi_history, parallel=True)
        save_netcdf(idata, "run.nc")
    """
    draws = collect_draws(
        model, guide, *args, num_samples=num_samples, sites=sites,
        max_site_size=max_site_size, subset_size=subset_size, thin=thin, obs_sites=obs_sites,
        parallel=parallel, chunk_size=chunk_size, progress=progress, **kwargs,
    )
    return draws_to_inference_data(draws, history=history, dims=dims, coords=coords,
                                   attrs=attrs)


def concat_fits(fits: Sequence):
    """Stores several independent fits as the chains of one InferenceData.

    The fits must share their sites, layers, observed data and number of draws;
    optimisation histories of different lengths are padded with ``NaN``. Attributes are
    those of the first fit, with ``num_fits`` added.

    :param fits: InferenceData objects from :func:`to_inference_data`.
    :rtype: arviz.InferenceData
    """
    import arviz as az
    import xarray as xr

    fits = list(fits)
    if not fits or not all(isinstance(f, az.InferenceData) for f in fits):
        raise TypeError("fits: expected a non-empty sequence of arviz.InferenceData")
    for i, fit in enumerate(fits[1:], 1):
        if set(fit.groups()) != set(fits[0].groups()):
            raise ValueError(
                f"fits[{i}]: expected groups {sorted(fits[0].groups())}, got "
                f"{sorted(fit.groups())}"
            )
        if "observed_data" in fit.groups() and not fit.observed_data.equals(
            fits[0].observed_data
        ):
            raise ValueError(f"fits[{i}]: expected the same observed data as fits[0]")
    groups = {}
    for group in fits[0].groups():
        if group not in _CHAIN_GROUPS:
            groups[group] = fits[0][group]
            continue
        parts = [fit[group] for fit in fits]
        join = "outer" if group == HISTORY_GROUP else "exact"
        try:
            ds = xr.concat(parts, dim="chain", join=join, combine_attrs="override")
        except ValueError as err:
            raise ValueError(f"fits differ in group {group!r}: {err}") from err
        groups[group] = ds.assign_coords(chain=np.arange(len(fits)))
    attrs = dict(fits[0].attrs)
    attrs["num_fits"] = len(fits)
    return az.InferenceData(attrs=attrs, **groups)


def save_netcdf(idata, path):
    """Writes ``idata`` (every group and attribute) to a netCDF file with h5netcdf,
    atomically: ``path`` holds the old file or the complete new one, never half of one.

    :returns: ``path``.
    :rtype: pathlib.Path
    """
    return atomic_write(path, lambda tmp: idata.to_netcdf(str(tmp), engine="h5netcdf"),
                        to_path=True)


def load_netcdf(path):
    """Reads an InferenceData written by :func:`save_netcdf`, fully loaded into memory
    (so that no file handle stays open).

    :rtype: arviz.InferenceData
    """
    import arviz as az

    with az.rc_context({"data.load": "eager"}):
        return az.from_netcdf(str(path), engine="h5netcdf")
