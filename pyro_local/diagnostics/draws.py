"""Draws from a guide, scored under the model: the raw material of every diagnostic.

For each draw theta_s ~ q, :func:`collect_draws` records the model's log joint
log p(x, theta_s) and the guide's log density log q(theta_s), both split by layer
(``site["infer"]["layer"]``; sites outside any layer form :data:`GLOBAL`), the
pointwise log-likelihood of every observed site, a replicated data set drawn from the
model at theta_s, and the values of the latent sites.

Large latent sites (whole weight matrices) are kept out of memory by a simple policy:

- sites named in ``sites`` (by default, every latent or deterministic site with at most
  ``max_site_size`` elements per draw) are kept in full, every ``thin``-th draw;
- every other latent site is *summarised*: its posterior mean, standard deviation and
  probability of exactly zero per element, accumulated over all draws without storing
  them, and the draws of ``subset_size`` evenly spaced elements, every ``thin``-th draw.

Posterior predictive draws are made and kept for the kept draws only. Log densities and
the pointwise log-likelihood are kept for every draw, since importance sampling needs
all of them; they cost ``num_samples`` times the number of observations.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import torch

from .._checks import check_int
from ..poutine.layer_messenger import GLOBAL, guide_site_layers, site_layer
from .site_summary import Moments, site_facts, subset_index
from .traces import (
    is_deterministic,
    is_latent,
    is_observed_data,
    max_plate_nesting,
    run_block,
)

__all__ = ["GLOBAL", "Draws", "collect_draws"]


class Draws(NamedTuple):
    """What :func:`collect_draws` records; tensors are on the CPU.

    :ivar dict latent: site name -> kept draws, shape ``(num_kept, *site_shape)``.
    :ivar dict latent_summary: site name -> ``(3, *site_shape)`` float64 tensor holding the
        posterior mean, standard deviation (``ddof=1``) and probability of exactly zero
        of each element, over all draws.
    :ivar dict latent_subset: summarised site -> ``(flat indices, (num_kept, size) draws)``
        of a few of its elements.
    :ivar dict predictive: observed site -> replicated data, ``(num_kept, *obs_shape)``.
    :ivar dict log_likelihood: observed site -> ``log p(x_i | theta_s)`` per draw and
        point, ``(num_samples, *batch_shape)`` float64, without subsampling scale.
    :ivar dict observed: observed site -> the observed value, ``obs_shape``.
    :ivar dict log_joint: layer -> that layer's part of ``log p(x, theta_s)``,
        ``(num_samples,)`` float64; the parts sum to the model's log joint.
    :ivar dict log_q: layer -> that layer's part of ``log q(theta_s)``, likewise.
    :ivar dict plates: site name -> plate name of each batch dimension of the site
        (``None`` where no plate names it).
    :ivar int num_samples: number of draws.
    :ivar int thin: the kept draws are the draws ``0, thin, 2 * thin, ...``.
    :ivar dict facts: site name -> facts read from the model's distribution (its name
        and, when the same for every element, its mean and standard deviation).
    :ivar dict latent_sizes: layer -> number of latent elements per draw.
    :ivar str device: the device the model ran on.
    """

    latent: dict
    latent_summary: dict
    latent_subset: dict
    predictive: dict
    log_likelihood: dict
    observed: dict
    log_joint: dict
    log_q: dict
    plates: dict
    num_samples: int
    thin: int
    facts: dict
    latent_sizes: dict
    device: str = "cpu"


def _plate_names(site, batch_rank):
    names = [None] * batch_rank
    for frame in site["cond_indep_stack"]:
        if frame.vectorized and frame.dim is not None and -frame.dim <= batch_rank:
            names[batch_rank + frame.dim] = frame.name
    return tuple(names)


def _site_layers(model_trace, guide_trace):
    """The layer of every sample site of either trace (one rule with the ELBO's)."""
    guide_layers = guide_site_layers(model_trace, guide_trace)
    layers = {n: site_layer(s) for n, s in model_trace.nodes.items() if s["type"] == "sample"}
    for name, site in guide_trace.nodes.items():
        if site["type"] == "sample" and name not in layers:
            layers[name] = guide_layers.get(name, site_layer(site))
    return layers


def _per_draw(value, size, shape, name):
    """Reshapes a site's block tensor to ``(size, *shape)``, checking it holds that much."""
    value = value.detach()
    if size is None:
        if value.shape != shape:
            raise ValueError(
                f"site {name!r}: expected shape {tuple(shape)} as in the first draw, got "
                f"{tuple(value.shape)}; the model's structure must not change between draws"
            )
        return value.unsqueeze(0).cpu()
    if value.dim() == 0 or value.shape[0] != size or value.numel() != size * shape.numel():
        raise ValueError(
            f"site {name!r}: expected a leading dimension of {size} draws and per-draw shape "
            f"{tuple(shape)}, got {tuple(value.shape)}; the model or guide does not vectorize "
            "over an outer plate, use parallel=False"
        )
    return value.reshape((size,) + shape).cpu()


def _check_names(names, available, what):
    if names is None:
        return None
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise TypeError(f"{what}: expected an iterable of site names, got {names!r}")
    names = list(names)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"{what}: expected names among {sorted(available)}, got {unknown}")
    return names


class _Recorder:
    """Accumulates the blocks of draws; the first (unbatched) draw fixes sites and shapes."""

    def __init__(self, probe, sites, max_site_size, thin, obs_sites, subset_size):
        model = probe.model
        latent = [n for n, s in model.nodes.items() if is_latent(s) or is_deterministic(s)]
        observed = [n for n, s in model.nodes.items() if is_observed_data(s)]
        obs_sites = _check_names(obs_sites, observed, "obs_sites")
        self.obs_sites = observed if obs_sites is None else obs_sites
        self.shapes = {n: model.nodes[n]["value"].shape for n in latent}
        kept = _check_names(sites, latent, "sites")
        if kept is None:
            kept = [n for n in latent if self.shapes[n].numel() <= max_site_size]
        self.kept = kept
        self.summarised = [n for n in latent if n not in kept and is_latent(model.nodes[n])]
        self.subset = {n: subset_index(self.shapes[n].numel(), subset_size)
                       for n in self.summarised}
        self.thin = thin

        self.plates, self.batch_shapes = {}, {}
        for name in latent:
            site = model.nodes[name]
            rank = max(0, len(self.shapes[name]) - site["fn"].event_dim)
            self.plates[name] = _plate_names(site, rank)
        for name in self.obs_sites:
            site = model.nodes[name]
            self.batch_shapes[name] = site["log_prob"].shape
            self.shapes[name] = site["fn"].batch_shape + site["fn"].event_shape
            self.plates[name] = _plate_names(site, len(self.batch_shapes[name]))
        self.observed = {
            n: model.nodes[n]["value"].detach().expand(self.shapes[n]).cpu()
            for n in self.obs_sites
        }
        self.facts = {n: site_facts(model.nodes[n]) for n in [*latent, *self.obs_sites]
                      if not is_deterministic(model.nodes[n])}
        site_layers = _site_layers(model, probe.guide)
        layers = {}
        for layer in site_layers.values():
            layers.setdefault(layer, len(layers))
        self.layers = layers
        self.latent_sizes = dict.fromkeys(layers, 0)
        for name, site in model.nodes.items():
            if is_latent(site):
                self.latent_sizes[site_layers[name]] += self.shapes[name].numel()

        values = [s["value"] for s in model.nodes.values() if s["type"] == "sample"]
        self.device = str(values[0].device) if values else "cpu"
        self.latent = {n: [] for n in self.kept}
        self.moments = {n: Moments() for n in self.summarised}
        self.latent_subset = {n: [] for n in self.summarised}
        self.predictive = {n: [] for n in self.obs_sites}
        self.log_likelihood = {n: [] for n in self.obs_sites}
        self.log_joint, self.log_q = [], []
        self.num_samples = 0

    def kept_in(self, size):
        """Which of the next ``size`` draws (``None``: one, unbatched) are kept."""
        k = 1 if size is None else size
        return [j for j in range(k) if (self.num_samples + j) % self.thin == 0]

    def _layer_parts(self, trace, size, site_layers):
        parts = torch.zeros(len(self.layers), 1 if size is None else size, dtype=torch.float64)
        for name, site in trace.nodes.items():
            if site["type"] != "sample":
                continue
            layer = site_layers[name]
            if layer not in self.layers:
                raise ValueError(
                    f"site {name!r}: layer {layer!r} did not appear in the first draw; "
                    "the model's structure must not change between draws"
                )
            log_prob = site["log_prob"].detach()
            if size is None:
                part = log_prob.double().sum().reshape(1)
            else:
                part = _per_draw(log_prob, size, log_prob.shape[1:], name)
                part = part.double().reshape(size, -1).sum(-1)
            parts[self.layers[layer]] += part
        return parts

    def record(self, block, size):
        """Adds a block: one unbatched draw (``size=None``) or ``size`` batched ones; the
        block holds a predictive trace when it has kept draws."""
        keep = self.kept_in(size)
        model = block.model
        for name in self.kept:
            value = _per_draw(model.nodes[name]["value"], size, self.shapes[name], name)
            self.latent[name].append(value[keep])
        for name in self.summarised:
            value = _per_draw(model.nodes[name]["value"], size, self.shapes[name], name)
            self.moments[name].update(value)
            flat = value[keep].reshape(len(keep), value[0].numel())
            self.latent_subset[name].append(flat[:, self.subset[name]])
        for name in self.obs_sites:
            if keep:
                value = block.predictive.nodes[name]["value"]
                value = _per_draw(value, size, self.shapes[name], name)[keep]
                self.predictive[name].append(value)
            log_lik = model.nodes[name]["unscaled_log_prob"]
            log_lik = _per_draw(log_lik, size, self.batch_shapes[name], name)
            self.log_likelihood[name].append(log_lik.double())
        site_layers = _site_layers(model, block.guide)
        self.log_joint.append(self._layer_parts(model, size, site_layers))
        self.log_q.append(self._layer_parts(block.guide, size, site_layers))
        self.num_samples += 1 if size is None else size

    def result(self):
        log_joint = torch.cat(self.log_joint, dim=1)
        log_q = torch.cat(self.log_q, dim=1)
        return Draws(
            latent={n: torch.cat(v) for n, v in self.latent.items()},
            latent_summary={n: m.result() for n, m in self.moments.items()},
            latent_subset={n: (self.subset[n], torch.cat(v))
                           for n, v in self.latent_subset.items()},
            predictive={n: torch.cat(v) for n, v in self.predictive.items()},
            log_likelihood={n: torch.cat(v) for n, v in self.log_likelihood.items()},
            observed=self.observed,
            log_joint={layer: log_joint[i] for layer, i in self.layers.items()},
            log_q={layer: log_q[i] for layer, i in self.layers.items()},
            plates=self.plates,
            num_samples=self.num_samples,
            thin=self.thin,
            facts=self.facts,
            latent_sizes=self.latent_sizes,
            device=self.device,
        )


def _vectorized_block(model, guide, args, kwargs, size, plate_nesting, predictive):
    # The unbatched first draw ran, so a failure here comes from the outer plate.
    try:
        return run_block(model, guide, args, kwargs, size=size, plate_nesting=plate_nesting,
                         predictive=predictive)
    except (RuntimeError, ValueError, IndexError) as err:
        first = (str(err).strip().splitlines() or [""])[0]  # Pyro appends trace shapes
        raise ValueError(
            f"parallel=True: the model or guide does not broadcast over an outer plate of "
            f"draws ({type(err).__name__}: {first}); use parallel=False"
        ) from err


def collect_draws(
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
    **kwargs,
) -> Draws:
    """Draws ``num_samples`` times from ``guide`` and scores each draw under ``model``.

    See the module docstring for what is kept of large sites. The first draw is made
    on its own to learn the sites and their shapes; the model's structure must be the
    same for every draw. Model and guide are called with ``*args`` and ``**kwargs``;
    pass the whole data set and no subsampling, so that ``log p(x, theta)`` is the
    full log joint.

    :param callable model: a Pyro model with observed sites.
    :param callable guide: a Pyro guide (callable or AutoGuide) for ``model``.
    :param int num_samples: number of draws.
    :param sites: latent or deterministic sites to keep in full; ``None`` keeps those
        with at most ``max_site_size`` elements per draw.
    :param int max_site_size: size limit used when ``sites`` is ``None``.
    :param int subset_size: elements of each summarised site whose draws are kept.
    :param int thin: keep every ``thin``-th draw of the kept sites and of the posterior
        predictive (which is drawn for those draws only).
    :param obs_sites: observed sites to record (likelihood, predictive, data); ``None``
        records all of them.
    :param bool parallel: draw ``chunk_size`` draws at a time in a vectorized plate; the
        model and guide must then broadcast correctly over an outer plate, otherwise a
        ``ValueError`` says so.
    :param int chunk_size: draws per vectorized call (default: all at once).
    :param bool progress: show a progress bar (tqdm).
    :returns: the draws and their scores.
    :rtype: Draws

    Example::

        draws = collect_draws(model, guide, x, y, num_samples=500, parallel=True)
        log_w = sum(draws.log_joint.values()) - sum(draws.log_q.values())
    """
    from tqdm.auto import tqdm

    if not callable(model) or not callable(guide):
        raise TypeError(
            f"expected a callable model and guide, got {type(model).__name__} and "
            f"{type(guide).__name__}"
        )
    check_int(num_samples, "num_samples", 1)
    check_int(max_site_size, "max_site_size", 0)
    check_int(subset_size, "subset_size", 1)
    check_int(thin, "thin", 1)
    if chunk_size is not None:
        check_int(chunk_size, "chunk_size", 1)

    probe = run_block(model, guide, args, kwargs)
    recorder = _Recorder(probe, sites, max_site_size, thin, obs_sites, subset_size)
    recorder.record(probe, None)
    plate_nesting = max_plate_nesting(probe.model, probe.guide)
    with tqdm(total=num_samples, initial=1, desc="posterior draws", unit="draw",
              disable=not progress, leave=False) as bar:
        while recorder.num_samples < num_samples:
            if parallel:
                size = min(num_samples - recorder.num_samples, chunk_size or num_samples)
                block = _vectorized_block(model, guide, args, kwargs, size, plate_nesting,
                                          bool(recorder.kept_in(size)))
            else:
                size = None
                block = run_block(model, guide, args, kwargs,
                                  predictive=bool(recorder.kept_in(None)))
            recorder.record(block, size)
            bar.update(1 if size is None else size)
    return recorder.result()
