"""The report's sections on the fit itself: optimisation, PSIS k-hat, leave-one-out.

Every builder returns the section (or ``None`` when its data is absent) and the
verdicts it contributes to the summary.
"""

from __future__ import annotations

import html
import json

import numpy as np

from . import figures
from .convergence import convergence
from .html_page import Section, figure_html, table_html
from .verdicts import HIGH_DIMENSION, fit_verdict, optimisation_verdict

__all__ = ["fmt", "history_section", "khat_section", "latent_sizes", "loo_section"]


def fmt(x, digits=3):
    """A number for a table: fixed point, or scientific when very large or small."""
    x = float(x)
    if np.isnan(x):
        return "NaN"
    if np.isinf(x):
        return "-inf" if x < 0 else "inf"
    if abs(x) >= 1e5 or (x != 0 and abs(x) < 1e-3):
        return f"{x:.{digits}g}"
    return f"{x:.{digits}f}"


def _fits(idata):
    return range(idata.sample_stats.sizes["chain"])


def latent_sizes(idata):
    """``(total, {layer: size})``: latent elements per draw, from the export's attributes
    (``(None, {})`` for an InferenceData written elsewhere)."""
    attrs = idata.sample_stats.attrs
    sizes = json.loads(attrs["latent_sizes"]) if "latent_sizes" in attrs else {}
    total = attrs.get("latent_dimension")
    return (None if total is None else int(total)), sizes


def history_section(history):
    """Per-layer loss curves and whether each layer converged over its last steps.

    :param history: the ``optimization_history`` group (:class:`xarray.Dataset`) or a dict
        layer -> loss per step.
    """
    import xarray as xr

    from .inference_data import history_dataset

    if not isinstance(history, xr.Dataset):
        history = history_dataset(history)
    loss = history["loss"]
    if loss.sizes["step"] == 0 or loss.sizes["layer"] == 0:
        return None, []
    layers = [str(x) for x in loss["layer"].values]
    rows, verdicts, window = [], [], 0
    for chain in range(loss.sizes["chain"]):
        records = convergence(dict(zip(layers, loss.values[chain], strict=True)))
        (total,) = convergence({"total": loss.values[chain].sum(0)})
        window = max([window] + [r.window for r in records])
        for i, r in enumerate(records):
            values = loss.values[chain, i]
            values = values[np.isfinite(values)]
            rows.append((chain, r.layer, r.steps, fmt(values[0]) if values.size else "",
                         fmt(values[-1]) if values.size else "",
                         f"{r.relative_change:+.2%}" if np.isfinite(r.relative_change) else "",
                         r.state))
        if chain == 0:
            verdicts.append(optimisation_verdict(records, total))
    body = (
        "<p>Each layer's loss (negative local ELBO) at each optimisation step. The shaded "
        "steps are the last 10 % (at least 10), over which a fitted line tests whether "
        "the loss still moves: a layer has converged when its change there is under 1 % "
        "of its whole decrease in training; a larger change that is not significant "
        "(|z| &lt; 2) is within the minibatch noise.</p>"
        + figure_html(figures.plot_history(loss.values, layers, window),
                      "per-layer loss curves")
        + table_html(("fit", "layer", "steps", "first loss", "last loss",
                      "change over the last steps (share of the decrease)", "state"), rows)
    )
    return Section("Optimisation", body), verdicts


def _layer_reading(result, size):
    if result.reading.value == "unreliable" and size is not None and size >= HIGH_DIMENSION:
        return "not informative (high-dimensional)"
    return result.reading.value


def khat_section(idata):
    """PSIS k-hat of each fit, overall and per layer (Yao et al. 2018), read by the
    dimension of the posterior."""
    from .psis import khat_threshold, variational_khat

    if "sample_stats" not in idata.groups() or "log_weight" not in idata.sample_stats:
        return None, []
    results = [variational_khat(idata, chain) for chain in _fits(idata)]
    total, sizes = latent_sizes(idata)
    verdicts = [fit_verdict(results[0].overall, total)]
    terms = ["overall"] + list(results[0].layers)
    khats = [[r.overall.khat] + [r.layers[t].khat for t in terms[1:]] for r in results]
    rows = []
    for fit, r in enumerate(results):
        for term, res in [("overall", r.overall)] + list(r.layers.items()):
            size = total if term == "overall" else sizes.get(term)
            rows.append((fit, term, "" if size is None else f"{size:,}", fmt(res.khat, 2),
                         _layer_reading(res, size), f"{res.ess:.0f} / {res.num_draws}",
                         res.note))
    num_draws = results[0].overall.num_draws
    threshold = khat_threshold(num_draws)
    without = results[0].without_latents
    note = (f"<p>Layers without latent variables ({html.escape(', '.join(without))}) have "
            "no importance ratio to judge.</p>") if without else ""
    body = (
        "<p>Pareto k-hat of the importance ratios p(x, &theta;) / q(&theta;) over draws from "
        "the guide, for the whole model and for each layer's own sites. Below 0.5 is good; "
        f"with {num_draws} draws, above {threshold:.2f} is unreliable (ArviZ's threshold "
        f"min(1 - 1/log10 S, 0.7)). In {HIGH_DIMENSION:,} or more latent dimensions a "
        "large k-hat is expected of any tractable guide and does not judge the fit.</p>"
        f"<p>{html.escape(verdicts[0].finding)} {html.escape(verdicts[0].advice)}</p>" + note
        + figure_html(figures.plot_khat(terms, khats, threshold), "k-hat overall and per layer")
        + table_html(("fit", "term", "latent dims", "k-hat", "reading", "ESS / draws",
                      "note"), rows)
    )
    return Section("Pareto k-hat", body), verdicts


def loo_section(idata):
    """Leave-one-out cross-validation: importance-corrected where the guide allows it,
    else ArviZ's PSIS-LOO on the guide's draws, labelled as the plug-in approximation."""
    from .checks import has_local_latents
    from .loo import IMPORTANCE, variational_loo

    groups = idata.groups()
    if "log_likelihood" not in groups or "sample_stats" not in groups:
        return None, []
    if "log_joint" not in idata.sample_stats or "log_q" not in idata.sample_stats:
        return None, []
    local = [n for n in idata.log_likelihood.data_vars
             if "observed_data" in groups and n in idata.observed_data
             and has_local_latents(idata, n)]
    if local:
        return Section("Leave-one-out cross-validation", (
            "<p>Not computed: the model has latent variables per data point (sharing a plate "
            f"with {html.escape(', '.join(local))}), whose draws were fitted to each point "
            "itself, so these draws cannot estimate a leave-one-out predictive. Use a "
            "held-out importance-sampled log-likelihood instead.</p>")), []
    results = [variational_loo(idata, chain) for chain in _fits(idata)]
    rows = []
    for fit, r in enumerate(results):
        corrected = r.loo_method == IMPORTANCE
        bad = int(np.sum(~(r.pareto_k.values <= r.good_k)))
        rows.append((fit, r.loo_method, fmt(r.elpd_loo, 2), fmt(r.se, 2), fmt(r.p_loo, 2),
                     fmt(r.mcse, 2) if corrected else "n/a",
                     f"{bad} / {r.n_data_points}", fmt(r.proposal_khat, 2)))
    notes = "".join(f"<p>fit {fit}: {html.escape(r.note)}</p>" for fit, r in enumerate(results))
    body = (
        "<p>Expected log predictive density of each point when it is left out (elpd_loo), "
        "its standard error over points, and the effective number of parameters "
        "p_loo.</p>" + notes
        + table_html(("fit", "method", "elpd_loo", "SE", "p_loo", "Monte Carlo error bound",
                      f"points with k-hat > {results[0].good_k:.2f}", "k-hat of q"), rows)
        + figure_html(figures.plot_loo_khat([r.pareto_k.values for r in results],
                                            results[0].good_k),
                      "per-point k-hat of the leave-one-out weights")
    )
    return Section("Leave-one-out cross-validation", body), []
