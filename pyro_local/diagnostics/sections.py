"""The report's sections, one builder per kind of data.

Every builder takes its data and returns a :class:`~pyro_local.diagnostics.report.Section`,
or ``None`` where the data holds nothing to show (e.g. an InferenceData without a
``log_likelihood`` group). Bad data raises ``TypeError``/``ValueError`` as everywhere.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping

import numpy as np
import torch

from . import figures
from .report import Section, figure_html, table_html

__all__ = ["calibration_section", "config_section", "history_section", "khat_section",
           "loo_section", "ood_section", "ppc_section", "sparsity_section",
           "weight_scale_section"]

#: Observed sites shown in the posterior predictive checks, at most.
MAX_PPC_SITES = 8


def _fmt(x, digits=3):
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "-inf" if x < 0 else "inf"
    return f"{x:.{digits}g}" if abs(x) >= 1e4 or (x != 0 and abs(x) < 1e-3) else f"{x:.{digits}f}"


def _reading_html(result):
    return (f'<span class="{result.reading.value}">{html.escape(result.reading.value)}</span>: '
            f"{html.escape(result.reading.describe(result.num_draws))} "
            f"{html.escape(result.note)}")


def _fits(idata):
    return range(idata.sample_stats.sizes["chain"])


def history_section(history):
    """Per-layer loss curves.

    :param history: the ``optimization_history`` group (:class:`xarray.Dataset`) or a dict
        layer -> loss per step.
    """
    import xarray as xr

    from .inference_data import history_dataset

    if not isinstance(history, xr.Dataset):
        history = history_dataset(history)
    loss = history["loss"]
    if loss.sizes["step"] == 0 or loss.sizes["layer"] == 0:
        return None
    layers = [str(x) for x in loss["layer"].values]
    fig = figures.plot_history(loss.values, layers)
    rows = []
    for chain in range(loss.sizes["chain"]):
        for i, layer in enumerate(layers):
            values = loss.values[chain, i]
            values = values[np.isfinite(values)]
            if values.size:
                rows.append((chain, layer, values.size, _fmt(values[0]), _fmt(values[-1])))
    body = (
        "<p>Each layer's loss (negative local ELBO) at each optimisation step.</p>"
        + figure_html(fig, "per-layer loss curves")
        + table_html(("fit", "layer", "steps", "first loss", "last loss"), rows)
    )
    return Section("Optimisation history", body)


def khat_section(idata):
    """PSIS k-hat of each fit, overall and per layer (Yao et al. 2018)."""
    from .psis import variational_khat

    if "sample_stats" not in idata.groups() or "log_weight" not in idata.sample_stats:
        return None
    results = [variational_khat(idata, chain) for chain in _fits(idata)]
    terms = ["overall"] + list(results[0].layers)
    khats = [[r.overall.khat] + [r.layers[t].khat for t in terms[1:]] for r in results]
    rows = [
        (fit, term, _fmt(res.khat, 2), res.reading.value, f"{res.ess:.0f} / {res.num_draws}")
        for fit, r in enumerate(results)
        for term, res in [("overall", r.overall)] + list(r.layers.items())
    ]
    readings = "".join(f"<li>fit {fit}: {_reading_html(r.overall)}</li>"
                       for fit, r in enumerate(results))
    body = (
        "<p>Pareto k-hat of the importance ratios p(x, &theta;) / q(&theta;) over draws "
        "from the guide, for the whole model and for each layer's own sites. Below 0.5 "
        "is good, 0.5 to 0.7 usable, above 0.7 unreliable.</p>"
        f"<ul>{readings}</ul>"
        + figure_html(figures.plot_khat(terms, khats), "k-hat overall and per layer")
        + table_html(("fit", "term", "k-hat", "reading", "ESS / draws"), rows)
    )
    return Section("Pareto k-hat", body)


def loo_section(idata):
    """PSIS-LOO from the guide's draws, corrected by importance sampling."""
    from .loo import variational_loo

    groups = idata.groups()
    if "log_likelihood" not in groups or "sample_stats" not in groups:
        return None
    if "log_joint" not in idata.sample_stats or "log_q" not in idata.sample_stats:
        return None
    results = [variational_loo(idata, chain) for chain in _fits(idata)]
    rows = [
        (fit, r.loo_method, _fmt(r.elpd_loo, 2), _fmt(r.se, 2), _fmt(r.p_loo, 2),
         f"{int(np.sum(~(r.pareto_k.values <= r.good_k)))} / {r.n_data_points}",
         _fmt(r.proposal_khat, 2))
        for fit, r in enumerate(results)
    ]
    warnings = "".join(f"<p>fit {fit}: {html.escape(r.note)}</p>"
                       for fit, r in enumerate(results))
    body = (
        "<p>Leave-one-out expected log predictive density, with draws from the guide "
        "importance-weighted to each leave-one-out posterior (PSIS). The Monte Carlo "
        "error is an upper bound.</p>" + warnings
        + table_html(("fit", "method", "elpd_loo", "SE", "p_loo", "points k-hat > threshold",
                      "k-hat of q"), rows)
        + figure_html(figures.plot_loo_khat([r.pareto_k.values for r in results]),
                      "per-point k-hat of the leave-one-out weights")
    )
    return Section("Leave-one-out cross-validation", body)


def calibration_section(summary):
    """Classification metrics and the reliability diagram.

    :param CalibrationSummary summary: from
        :func:`~pyro_local.diagnostics.calibration.calibration_summary`.
    """
    d = summary.diagram
    rows = [("accuracy", _fmt(summary.accuracy, 4)), ("NLL (nats)", _fmt(summary.nll, 4)),
            ("Brier score", _fmt(summary.brier, 4)),
            (f"ECE ({d.count.numel()} bins)", _fmt(summary.ece, 4))]
    fig = figures.plot_reliability(d.edges, d.confidence, d.accuracy, d.count)
    body = table_html(("metric", "value"), rows) + figure_html(fig, "reliability diagram")
    return Section("Calibration", body)


def ood_section(ood):
    """Out-of-distribution detection by an uncertainty score.

    :param tuple ood: ``(score_in, score_out, score_name)``, scores as 1-D tensors.
    """
    from .uncertainty import ood_auroc

    if not isinstance(ood, tuple) or len(ood) != 3:
        raise TypeError("ood: expected a tuple (score_in, score_out, score_name)")
    score_in, score_out, name = ood
    auroc = ood_auroc(score_in, score_out)
    fig = figures.plot_ood(score_in, score_out, str(name))
    body = (f"<p>AUROC of {html.escape(str(name))} for telling out-of-distribution inputs: "
            f"<b>{auroc:.4f}</b> (0.5 is chance, 1 is perfect).</p>"
            + figure_html(fig, f"{name} in and out of distribution"))
    return Section("Out-of-distribution detection", body)


_STATISTICS = {"mean": np.mean, "sd": np.std, "min": np.min, "max": np.max}


def ppc_section(idata):
    """Observed data against replicated data, with posterior predictive p-values of
    the mean, sd, min and max (fit 0)."""
    groups = idata.groups()
    if "posterior_predictive" not in groups or "observed_data" not in groups:
        return None
    names = [n for n in idata.posterior_predictive.data_vars if n in idata.observed_data]
    if not names:
        return None
    parts, rows = [], []
    for name in names[:MAX_PPC_SITES]:
        observed = idata.observed_data[name].values
        replicated = idata.posterior_predictive[name].isel(chain=0).values
        parts.append(figure_html(figures.plot_ppc(name, observed, replicated),
                                 f"posterior predictive check of {name}"))
        flat = replicated.reshape(len(replicated), -1)
        for stat, fn in _STATISTICS.items():
            t_obs = fn(observed)
            t_rep = fn(flat, axis=1)
            rows.append((name, stat, _fmt(t_obs), _fmt(t_rep.mean()),
                         _fmt(np.mean(t_rep >= t_obs), 2)))
    skipped = names[MAX_PPC_SITES:]
    note = f"<p>Not shown: {html.escape(', '.join(skipped))}.</p>" if skipped else ""
    body = (
        "<p>Histograms of the observed data (black) and of data sets replicated from the "
        "model at the guide's draws (blue). A p-value near 0 or 1 marks a statistic the "
        "model does not reproduce.</p>" + "".join(parts) + note
        + table_html(("site", "statistic", "observed", "replicated (mean)",
                      "P(replicated >= observed)"), rows)
    )
    return Section("Posterior predictive checks", body)


def _array(value, name):
    if torch.is_tensor(value):
        value = value.detach().cpu().numpy()
    value = np.asarray(value, dtype=float).ravel()
    if value.size == 0 or not np.isfinite(value).all():
        raise ValueError(f"{name}: expected a non-empty array of finite numbers")
    return value


def weight_scale_section(scales):
    """Row and column scale spectra of MatrixNormal weight posteriors.

    :param dict scales: layer -> (row scales, column scales), tensors or arrays.
    """
    if not isinstance(scales, Mapping):
        raise TypeError(f"weight_scales: expected a dict, got {type(scales).__name__}")
    if not scales:
        return None
    checked, rows = {}, []
    for layer, pair in scales.items():
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise ValueError(f"weight_scales[{layer!r}]: expected (row scales, column scales)")
        row, col = (_array(v, f"weight_scales[{layer!r}]") for v in pair)
        if (row <= 0).any() or (col <= 0).any():
            raise ValueError(f"weight_scales[{layer!r}]: expected positive scales")
        checked[layer] = (row, col)
        for what, v in (("rows", row), ("columns", col)):
            rows.append((layer, what, v.size, _fmt(v.min()), _fmt(np.median(v)), _fmt(v.max())))
    body = (
        "<p>Scale of each row (input unit) and column (output unit) of the weight "
        "posteriors, largest first. A steep drop means few units carry the layer.</p>"
        + figure_html(figures.plot_scale_spectra(checked), "row and column scale spectra")
        + table_html(("layer", "scales of", "count", "min", "median", "max"), rows)
    )
    return Section("Weight posteriors", body)


def sparsity_section(sparsity):
    """Fraction of exactly-zero units in each rectified layer.

    :param dict sparsity: layer -> fraction in [0, 1].
    """
    if not isinstance(sparsity, Mapping):
        raise TypeError(f"sparsity: expected a dict, got {type(sparsity).__name__}")
    if not sparsity:
        return None
    fractions = []
    for layer, value in sparsity.items():
        values = _array(value, f"sparsity[{layer!r}]")
        if values.size != 1:
            raise ValueError(f"sparsity[{layer!r}]: expected one number, got {values.size}")
        fraction = float(values[0])
        if not 0 <= fraction <= 1:
            raise ValueError(f"sparsity[{layer!r}]: expected a fraction in [0, 1], got {fraction}")
        fractions.append(fraction)
    layers = list(sparsity)
    body = (
        figure_html(figures.plot_sparsity(layers, fractions), "fraction of zero units per layer")
        + table_html(("layer", "fraction of units exactly 0"),
                     [(layer, _fmt(f, 4)) for layer, f in zip(layers, fractions, strict=True)])
    )
    return Section("Sparsity of rectified layers", body)


def _flatten(config, prefix=""):
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{name}.")
        else:
            yield name, value


def config_section(config):
    """The run's configuration as a table (nested dicts flattened to dotted keys)."""
    if not isinstance(config, Mapping):
        raise TypeError(f"config: expected a dict, got {type(config).__name__}")
    if not config:
        return None
    return Section("Configuration", table_html(("setting", "value"), _flatten(config)))
