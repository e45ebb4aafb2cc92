"""The report's sections on the posterior: ArviZ's summary of the low-dimensional sites,
the scale of every weight matrix's posterior against its prior, and the sparsity of
rectified latents.

Every builder returns the section (or ``None`` when its data is absent) and the
verdicts it contributes to the summary.
"""

from __future__ import annotations

import html

import numpy as np

from . import figures
from .html_page import Section, figure_html, table_html
from .sections_fit import fmt

__all__ = ["posterior_summary_section", "prior_kl_per_element", "sparsity_section",
           "weight_section"]

#: Sites with at most this many elements per draw are summarised with ``arviz.summary``.
MAX_SUMMARY_ELEMENTS = 20
#: A weight matrix whose marginals are this close to the prior's (mean KL per weight, in
#: nats) is reported as uninformed by the data; the Monte Carlo bias of the estimate
#: from S draws is about 1 / S nats.
PRIOR_KL = 0.02
#: A posterior whose median sd is within this fraction of the prior's keeps the prior's
#: spread.
SPREAD_AT_PRIOR = 0.05
#: A unit is inactive when it is exactly zero this often across data and draws.
INACTIVE = 0.99


def _plain(var):
    return var.attrs.get("subset") is None


def posterior_summary_section(idata):
    """:func:`arviz.summary` of the kept sites with few elements (mean, sd, HDI; with
    several fits as chains also ESS and r_hat across fits)."""
    import arviz as az

    if "posterior" not in idata.groups():
        return None, []
    posterior = idata.posterior
    chains = posterior.sizes["chain"]
    names = [n for n, v in posterior.data_vars.items() if _plain(v)
             and int(np.prod([v.sizes[d] for d in v.dims if d not in ("chain", "draw")]))
             <= MAX_SUMMARY_ELEMENTS]
    if not names:
        return None, []
    table = az.summary(idata, var_names=names, kind="all" if chains > 1 else "stats")
    rows = [(index, *(fmt(v, 3) for v in row)) for index, row in table.iterrows()]
    across = ("; with several fits stored as chains, r_hat and ESS compare the fits"
              if chains > 1 else "")
    body = (f"<p>ArviZ's summary of the sites with at most {MAX_SUMMARY_ELEMENTS} elements "
            f"(draws from the guide){across}.</p>"
            + table_html(("site", *table.columns), rows))
    return Section("Posterior summary", body), []


def prior_kl_per_element(mean, sd, prior_mean, prior_sd):
    """Mean over elements of KL(N(mean, sd^2) || N(prior_mean, prior_sd^2)): how far each
    marginal moved from the prior, in nats (a lower bound on the joint KL per element)."""
    mean, sd = np.asarray(mean, dtype=float), np.asarray(sd, dtype=float)
    kl = (np.log(prior_sd / sd) + (sd**2 + (mean - prior_mean) ** 2) / (2 * prior_sd**2) - 0.5)
    return float(np.mean(kl))


def _weight_moments(idata):
    """``{site: (mean, sd, attrs)}`` of every latent weight matrix (two dimensions, in no
    data plate) of fit 0: from ``posterior_summary``, or from the draws of a kept site."""
    from .checks import has_local_latents

    observed = list(idata.observed_data.data_vars) if "observed_data" in idata.groups() else []
    local = {d for n in observed if has_local_latents(idata, n)
             for d in idata.observed_data[n].dims}
    out = {}
    if "posterior_summary" in idata.groups():
        for name, var in idata.posterior_summary.data_vars.items():
            if len(var.dims) == 4 and not local & set(var.dims):
                var = var.isel(chain=0)
                out[name] = (var.sel(statistic="mean").values, var.sel(statistic="sd").values,
                             var.attrs)
    if "posterior" in idata.groups():
        for name, var in idata.posterior.data_vars.items():
            if len(var.dims) == 4 and _plain(var) and not local & set(var.dims):
                draws = var.isel(chain=0).values
                out[name] = (draws.mean(0), draws.std(0, ddof=1), var.attrs)
    return out


def weight_section(idata):
    """The posterior sd of each weight matrix by row and by column, against the prior's,
    and the matrices whose posterior has not moved from the prior."""
    moments = _weight_moments(idata)
    if not moments:
        return None, []
    spectra, priors, rows, notes = {}, {}, [], []
    for name, (mean, sd, attrs) in moments.items():
        spectra[name] = (np.sqrt((sd**2).mean(1)), np.sqrt((sd**2).mean(0)))
        prior_sd, prior_mean = attrs.get("prior_sd"), attrs.get("prior_mean", 0.0)
        priors[name] = prior_sd
        kl, ratio = np.nan, np.nan
        if prior_sd is not None:
            kl = prior_kl_per_element(mean, sd, prior_mean, prior_sd)
            ratio = float(np.median(sd)) / prior_sd
        if kl < PRIOR_KL:
            notes.append(
                f"The posterior of {name} equals its prior (KL {kl:.3f} nats per weight, "
                f"under {PRIOR_KL}): the data did not inform this layer, and its weights are "
                "noise at the prior's scale. A narrower prior, a different initialisation of "
                "the guide, or more training may help.")
        elif abs(ratio - 1) < SPREAD_AT_PRIOR:
            notes.append(
                f"The posterior spread of {name} is the prior's (median sd {ratio:.3f} of the "
                f"prior's; KL {kl:.3f} nats per weight): the data moved its means a little "
                "and left its weights noisy at the prior's scale, which widens the "
                "predictive distribution.")
        rows.append((name, "x".join(map(str, sd.shape)),
                     "" if prior_sd is None else fmt(prior_sd), fmt(np.median(sd)),
                     fmt(np.median(np.abs(mean))), fmt(kl, 4)))
    sentences = "".join(f'<p class="verdict warn">{html.escape(n)}</p>' for n in notes)
    body = (
        "<p>Posterior standard deviation of each weight matrix's entries (root mean square "
        "over each row, i.e. input unit, and over each column, i.e. output unit), sorted; "
        "the dotted lines are the prior's. A spectrum far below its prior line is a layer "
        "whose posterior is much narrower than its prior (informed by the data, or not yet "
        "moved from a narrow initialisation: see the optimisation); one on its line, a "
        "layer left at its prior's spread. The KL column is the mean KL of each entry's "
        "marginal from the prior.</p>" + sentences
        + figure_html(figures.plot_scale_spectra(spectra, priors),
                      "posterior weight scales against the prior")
        + table_html(("site", "shape", "prior sd", "median posterior sd",
                      "median |posterior mean|", "KL per weight (nats)"), rows))
    return Section("Weight posteriors", body), []


def _zero_probabilities(idata):
    """``{site: P(z = 0) per element}`` of every rectified latent of fit 0, from
    ``posterior_summary`` or from the draws of a kept site."""
    out = {}
    for group, statistic in (("posterior_summary", True), ("posterior", False)):
        if group not in idata.groups():
            continue
        for name, var in idata[group].data_vars.items():
            if var.attrs.get("distribution") != "RectifiedNormal" or not _plain(var):
                continue
            var = var.isel(chain=0)
            out[name] = (var.sel(statistic="p_zero").values if statistic
                         else (var.values == 0).mean(0))
    return out


def sparsity_section(idata):
    """Exact zeros of rectified latents: the fraction of zero units per layer and the
    units that are (almost) always zero."""
    zeros = _zero_probabilities(idata)
    if not zeros:
        return None, []
    rows, fractions = [], []
    for name, p_zero in zeros.items():
        per_unit = p_zero.reshape(-1, p_zero.shape[-1]).mean(0)
        fractions.append(float(p_zero.mean()))
        rows.append((name, per_unit.size, fmt(fractions[-1], 4),
                     int(np.sum(per_unit >= INACTIVE))))
    body = (
        "<p>Rectified latents are exactly zero with positive probability. For each layer: "
        "the fraction of its units that are zero, over data points and draws, and the "
        f"units that are zero at least {INACTIVE:.0%} of the time (inactive).</p>"
        + figure_html(figures.plot_sparsity(list(zeros), fractions),
                      "fraction of zero units per layer")
        + table_html(("layer", "units", "fraction exactly 0", "inactive units"), rows))
    return Section("Sparsity of rectified layers", body), []
