"""The report's sections on predictions: held-out performance and calibration,
out-of-distribution detection, and posterior predictive checks that fit the data type.

Every builder returns the section (or ``None`` when its data is absent) and the
verdicts it contributes to the summary.
"""

from __future__ import annotations

import html

import numpy as np
import torch

from . import figures_predictive as figs
from .checks import (
    binary_loo_pit,
    class_frequency_check,
    continuous_loo_pit,
    data_kind,
    feature_mean_check,
    has_local_latents,
    per_class,
)
from .html_page import Section, figure_html, table_html
from .sections_fit import fmt
from .verdicts import Verdict, calibration_verdict, ood_verdict, predictive_verdict

__all__ = ["held_out_sections", "ppc_section"]

#: Observed sites shown in the posterior predictive checks, at most.
MAX_PPC_SITES = 8
#: A posterior predictive p-value below this (two-sided, Bonferroni over the statistics
#: of one check) marks a statistic the model does not reproduce.
PPC_LEVEL = 0.05


def _verdict_html(verdict):
    advice = f" {html.escape(verdict.advice)}" if verdict.advice else ""
    return (f'<p class="verdict {verdict.status}"><b>{html.escape(verdict.topic)}:</b> '
            f"{html.escape(verdict.finding)}{advice}</p>")


def held_out_sections(held_out):
    """Held-out performance, per-class checks, calibration and OOD detection.

    :param xarray.Dataset held_out: the ``held_out`` group
        (:func:`~pyro_local.diagnostics.held_out.held_out_dataset`).
    :returns: the sections and their verdicts.
    """
    from .calibration import brier_score, expected_calibration_error
    from .held_out import ood_scores

    probs = torch.as_tensor(held_out["probs"].values, dtype=torch.float64)
    labels = torch.as_tensor(held_out["label"].values).long()
    name = html.escape(str(held_out.attrs.get("name", "held-out data")))
    draws = held_out.attrs.get("num_draws", "?")
    predictive, calibration = predictive_verdict(probs, labels), calibration_verdict(probs, labels)
    ece, diagram = expected_calibration_error(probs, labels)
    confusion, classes = per_class(probs, labels)
    metrics = [("points", f"{len(labels):,}"), ("posterior draws", draws),
               ("accuracy", fmt(float((probs.argmax(-1) == labels).double().mean()), 4)),
               ("NLL (nats)", fmt(-float(probs.gather(1, labels[:, None]).log().mean()), 4)),
               ("Brier score", fmt(brier_score(probs, labels), 4)),
               (f"ECE ({diagram.count.numel()} bins)", fmt(ece, 4))]
    rows = [(c, r["count"], fmt(r["accuracy"], 3), fmt(r["over"], 3), fmt(r["under"], 3))
            for c, r in enumerate(classes)]
    performance = Section("Held-out predictions", (
        f"<p>The posterior predictive (the average of the class probabilities over the "
        f"posterior draws) on the {name}.</p>" + _verdict_html(predictive)
        + table_html(("metric", "value"), metrics)
        + "<p>Per class: accuracy (recall) and the one-vs-rest calibration of the predicted "
          "probability of the class, split into its over- and underconfident parts.</p>"
        + table_html(("class", "points", "accuracy", "overconfident", "underconfident"), rows)
        + figure_html(figs.plot_confusion(confusion), "confusion matrix")))
    reliability = Section("Calibration", (
        _verdict_html(calibration)
        + "<p>Points binned by confidence (their largest predictive probability): the bars "
          "are each bin's accuracy, the red segments its gap to the bin's mean confidence. "
          "Bars above the diagonal are underconfident, below it overconfident.</p>"
        + figure_html(figs.plot_reliability(diagram.edges, diagram.confidence,
                                            diagram.accuracy, diagram.count),
                      "reliability diagram")))
    sections, verdicts = [performance, reliability], [predictive, calibration]
    aurocs = ood_scores(held_out)
    if aurocs:
        ood = ood_verdict(aurocs)
        rows = [(k, fmt(v["entropy"], 4), fmt(v["mutual_information"], 4))
                for k, v in aurocs.items()]
        scores = {"held-out": held_out["entropy"].values}
        scores.update({k: held_out[f"entropy_{k}"].values for k in aurocs})
        sections.append(Section("Out-of-distribution detection", (
            _verdict_html(ood)
            + "<p>AUROC of telling each out-of-distribution set from the held-out inputs by "
              "an uncertainty score (0.5 is chance, 1 is perfect): the predictive entropy, "
              "and its epistemic part, the mutual information between label and "
              "weights.</p>"
            + table_html(("set", "AUROC, predictive entropy", "AUROC, mutual information"),
                         rows)
            + figure_html(figs.plot_ood(scores, "predictive entropy (nats)"),
                          "predictive entropy in and out of distribution"))))
        verdicts.append(ood)
    return sections, verdicts


def _class_check(name, observed, replicated):
    counts, rep, pvalues = class_frequency_check(observed, replicated)
    level = PPC_LEVEL / len(counts)
    flagged = [c for c, p in enumerate(pvalues) if p < level]
    rows = [(c, counts[c], fmt(rep[:, c].mean(), 1), fmt(rep[:, c].std(), 1), fmt(pvalues[c], 3))
            for c in range(len(counts))]
    text = (f"classes {', '.join(map(str, flagged))} are not reproduced (p below "
            f"{level:.3g})" if flagged else
            f"every class frequency is reproduced (smallest p = {pvalues.min():.2f})")
    verdict = Verdict("Posterior predictive check", "warn" if flagged else "ok",
                      f"{name}: {text}, over {len(rep)} replicated data sets.")
    body = (figure_html(figs.plot_class_frequencies(counts, rep),
                        f"class frequencies of {name}, observed and replicated")
            + table_html(("class", "observed", "replicated mean", "replicated sd",
                          "p (two-sided)"), rows))
    return body, verdict


def _pit_html(name, loo_pit):
    if loo_pit is None:
        return ""
    from scipy.stats import kstest

    ks = kstest(loo_pit, "uniform")
    return (f"<p>LOO-PIT (uniform when the leave-one-out predictive is calibrated): "
            f"Kolmogorov-Smirnov distance {ks.statistic:.3f}, p = {ks.pvalue:.3g}.</p>"
            + figure_html(figs.plot_pit(loo_pit), f"LOO-PIT of {name}"))


def _scalar_check(name, observed, replicated, loo_pit):
    """One value per point: the histogram, and the mean and sd against their replicates."""
    from .checks import two_sided_pvalue

    flat = replicated.reshape(len(replicated), -1)
    rows, flagged, found = [], [], []
    for stat, fn in (("mean", np.mean), ("sd", np.std)):
        t_obs, t_rep = fn(observed), fn(flat, axis=1)
        p = float(two_sided_pvalue(t_obs, t_rep))
        rows.append((stat, fmt(t_obs), fmt(t_rep.mean()), fmt(p, 3)))
        found.append(f"{stat} p = {p:.2f}")
        flagged += [stat] if p < PPC_LEVEL / 2 else []
    text = (f"the {' and '.join(flagged)} of the data are not reproduced" if flagged
            else "its mean and sd are reproduced")
    verdict = Verdict("Posterior predictive check", "warn" if flagged else "ok",
                      f"{name}: {text} ({', '.join(found)}; {len(flat)} replicated data sets).")
    body = (figure_html(figs.plot_ppc(name, observed, replicated),
                        f"posterior predictive check of {name}")
            + table_html(("statistic", "observed", "replicated (mean)", "p (two-sided)"), rows)
            + _pit_html(name, loo_pit))
    return body, verdict


def _feature_check(name, observed, replicated, loo_pit):
    t_obs, t_rep, pvalues = feature_mean_check(observed, replicated)
    share = float(np.mean(pvalues < PPC_LEVEL))
    ok = share <= PPC_LEVEL
    verdict = Verdict(
        "Posterior predictive check", "ok" if ok else "warn",
        f"{name}: the mean of {share:.1%} of its {t_obs.size:,} features lies outside the "
        f"replicated data's central {1 - PPC_LEVEL:.0%} "
        f"({'no more than' if ok else 'more than'} the {PPC_LEVEL:.0%} expected by chance).")
    body = (figure_html(figs.plot_feature_means(t_obs, t_rep, pvalues),
                        f"per-feature means of {name}")
            + f"<p>Per-feature mean over the data points: observed, replicated, and the "
              f"two-sided p-value; {share:.1%} of the features have p &lt; {PPC_LEVEL}.</p>"
            + _pit_html(name, loo_pit))
    return body, verdict


def _loo_pit(idata, name, kind, observed, replicated):
    """LOO-PIT where it is defined: global latents, one observed dimension per point."""
    if kind == "categorical" or observed.ndim != 1 or has_local_latents(idata, name):
        return None
    from .loo import PLUG_IN, variational_loo

    if kind == "binary":
        loo = variational_loo(idata, chain=0, var_names=[name], method=PLUG_IN)
        return binary_loo_pit(observed, loo.loo_i.values)
    draws = idata.posterior_predictive["draw"].values
    log_lik = idata.log_likelihood[name].isel(chain=0).sel(draw=draws).values
    return continuous_loo_pit(observed, replicated, log_lik)


def ppc_section(idata):
    """Posterior predictive checks by data type: class frequencies for categorical data,
    per-feature means and LOO-PIT for binary and continuous data (fit 0)."""
    groups = idata.groups()
    if "posterior_predictive" not in groups or "observed_data" not in groups:
        return None, []
    names = [n for n in idata.posterior_predictive.data_vars if n in idata.observed_data]
    if not names:
        return None, []
    parts, verdicts = [], []
    for name in names[:MAX_PPC_SITES]:
        observed = np.asarray(idata.observed_data[name].values)
        replicated = np.asarray(idata.posterior_predictive[name].isel(chain=0).values)
        kind = data_kind(idata, name)
        parts.append(f"<h3>{html.escape(name)} ({kind})</h3>")
        if kind == "categorical":
            body, verdict = _class_check(name, observed, replicated)
        elif observed.ndim >= 2:
            body, verdict = _feature_check(name, observed, replicated, None)
        else:
            pit = _loo_pit(idata, name, kind, observed, replicated)
            body, verdict = _scalar_check(name, observed, replicated, pit)
        parts.append(_verdict_html(verdict) + body)
        verdicts.append(verdict)
    skipped = names[MAX_PPC_SITES:]
    note = f"<p>Not shown: {html.escape(', '.join(skipped))}.</p>" if skipped else ""
    body = ("<p>Statistics of the observed data against their distribution in data sets "
            f"replicated from the model at {replicated.shape[0]} of the guide's draws; "
            "p-values are two-sided.</p>" + "".join(parts) + note)
    worst = min(verdicts, key=lambda v: ["bad", "warn", "info", "ok"].index(v.status))
    return Section("Posterior predictive checks", body), [worst]
