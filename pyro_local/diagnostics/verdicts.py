"""Verdicts in words: what a diagnostic says about a fit, with its number and what to do.

Each function reads one diagnostic and returns a :class:`Verdict` whose ``status`` is
``"ok"``, ``"warn"``, ``"bad"`` or ``"info"`` (a number that cannot judge the fit, said
so). The report puts them first; they are plain functions of plain numbers, so each
can be checked on cases with known answers.

The fit verdict reads PSIS k-hat by the dimension of the posterior. Importance
sampling from q needs about exp(KL(p || q)) draws (Chatterjee and Diaconis 2018), and
the KL of any tractable guide grows with the number of latent dimensions d: with S
draws, k-hat can come out small only when the mismatch is below about log(S) / d nats
per dimension. From :data:`HIGH_DIMENSION` latent dimensions on (under 0.01 nats per
dimension at a thousand draws) no guide of a neural network's weights gets there, so a
large k-hat is expected and says nothing about whether the fit is useful; the
predictive checks do. A small k-hat is informative in any dimension.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .calibration import calibration_gap, negative_log_likelihood, reliability_diagram
from .convergence import MIN_WINDOW
from .psis import GOOD_KHAT, HIGH_DIMENSION, KhatReading

__all__ = ["HIGH_DIMENSION", "Verdict", "calibration_verdict", "fit_verdict", "ood_verdict",
           "optimisation_verdict", "predictive_verdict"]

#: Conventional AUROC readings for out-of-distribution detection.
AUROC_GOOD, AUROC_POOR = 0.8, 0.6
#: ECE above this is called large (a convention: a few percent is common).
ECE_LARGE = 0.05


@dataclass(frozen=True)
class Verdict:
    """One line of the report's summary.

    :param str topic: what is judged.
    :param str status: ``"ok"``, ``"warn"``, ``"bad"`` or ``"info"``.
    :param str finding: the finding in words, with its numbers.
    :param str advice: what to do about it, or ``""``.
    """

    topic: str
    status: str
    finding: str
    advice: str = ""


def fit_verdict(result, dimension=None):
    """The fit's verdict from the PSIS k-hat of its joint log ratio.

    :param PSISResult result: from :func:`~pyro_local.diagnostics.psis.variational_khat`.
    :param int dimension: number of latent elements per draw, if known.
    :rtype: Verdict
    """
    k, ess, n = result.khat, result.ess, result.num_draws
    numbers = f"k-hat {k:.2f}, ESS {ess:.0f} of {n} draws"
    if result.reading is KhatReading.GOOD:
        return Verdict("Fit", "ok", f"{numbers}: the guide is close to the posterior; "
                       "importance-weighted estimates (LOO) are reliable.")
    if result.reading is KhatReading.USABLE:
        return Verdict("Fit", "warn", f"{numbers}: usable, between {GOOD_KHAT} and "
                       f"{result.threshold:.2f}; importance-weighted estimates converge "
                       "slowly.", "Use more draws or a richer guide.")
    if dimension is not None and dimension >= HIGH_DIMENSION:
        return Verdict(
            "Fit", "info",
            f"{numbers} over a {dimension:,}-dimensional posterior. This is expected: "
            "importance sampling from a tractable guide fails in this many dimensions, so "
            "k-hat cannot tell whether the fit is useful.",
            "Judge the fit by its predictive checks: held-out performance and calibration "
            "where there are held-out data, and the posterior predictive checks.")
    where = f" over {dimension:,} latent dimensions" if dimension is not None else ""
    return Verdict(
        "Fit", "bad",
        f"{numbers}{where}: above {result.threshold:.2f}, the guide misses posterior mass "
        "in its tails.",
        "Do not trust importance-weighted estimates from it; use a richer guide (full-rank, "
        "low-rank or a flow) or reparameterise the model, and compare with MCMC if you can.")


def predictive_verdict(probs, labels):
    """Held-out accuracy and NLL against predicting the class frequencies.

    :param torch.Tensor probs: ``(N, C)`` predictive probabilities on held-out data.
    :param torch.Tensor labels: ``(N,)`` true classes.
    :rtype: Verdict
    """
    probs, labels = probs.double(), labels.long()
    n, num_classes = probs.shape
    accuracy = float((probs.argmax(-1) == labels).double().mean())
    se = math.sqrt(max(accuracy * (1 - accuracy), 1e-12) / n)
    nll = negative_log_likelihood(probs, labels)
    freq = torch.bincount(labels, minlength=num_classes).double() / n
    baseline = float(-(freq[freq > 0] * freq[freq > 0].log()).sum())
    finding = (f"accuracy {accuracy:.1%} (± {se:.1%}) and NLL {nll:.3f} nats on {n:,} held-out "
               f"points; predicting the class frequencies gives accuracy {freq.max():.1%} and "
               f"NLL {baseline:.3f}.")
    if accuracy > float(freq.max()) + 2 * se and nll < baseline:
        return Verdict("Predictive performance", "ok", finding)
    return Verdict("Predictive performance", "bad", finding + " The model does no better.",
                   "Train longer, check the data and the likelihood.")


def calibration_verdict(probs, labels, num_bins=15):
    """Under- or overconfidence, by how much, against the ECE expected by chance.

    :param torch.Tensor probs: ``(N, C)`` predictive probabilities on held-out data.
    :param torch.Tensor labels: ``(N,)`` true classes.
    :param int num_bins: confidence bins.
    :rtype: Verdict
    """
    gap = calibration_gap(reliability_diagram(probs, labels, num_bins))
    noise = f"a calibrated model would show ECE {gap.noise:.3f} by chance on these points"
    if gap.ece <= 2 * gap.noise:
        return Verdict("Calibration", "ok",
                       f"calibrated: ECE {gap.ece:.3f}, within sampling noise ({noise}).")
    over = gap.over >= gap.under
    main, other = (gap.over, gap.under) if over else (gap.under, gap.over)
    word = "overconfident" if over else "underconfident"
    finding = (f"{word}: confidence is {'above' if over else 'below'} accuracy by {main:.3f} "
               f"on average over the points (ECE {gap.ece:.3f}; {noise})")
    if other > gap.noise:
        finding += f", and {'under' if over else 'over'}confident by {other:.3f} elsewhere"
    advice = ("The predictive is too narrow: more posterior uncertainty (a wider guide, "
              "more draws) or temperature scaling on held-out data." if over else
              "The predictive is too wide: too much weight noise (guide or prior scale too "
              "large) or too little training; temperature scaling on held-out data fixes "
              "the probabilities.")
    return Verdict("Calibration", "bad" if gap.ece >= ECE_LARGE else "warn", finding + ".",
                   advice)


def ood_verdict(aurocs):
    """Out-of-distribution detection per OOD set, by the better of two uncertainty
    scores: the predictive entropy and its epistemic part, the mutual information.

    :param dict aurocs: set name -> ``{"entropy": auroc, "mutual_information": auroc}``
        of telling it from held-out inputs (a plain number stands for the entropy's).
    :rtype: Verdict
    """
    def reading(a):
        return "good" if a >= AUROC_GOOD else "poor" if a < AUROC_POOR else "fair"

    names = {"entropy": "predictive entropy", "mutual_information": "mutual information"}
    parts, best = [], []
    for name, scores in aurocs.items():
        scores = scores if isinstance(scores, dict) else {"entropy": scores}
        score, value = max(scores.items(), key=lambda kv: kv[1])
        best.append(value)
        others = ", ".join(f"{names[k]} {v:.3f}" for k, v in scores.items() if k != score)
        parts.append(f"{name} AUROC {value:.3f} by {names[score]} ({reading(value)}"
                     + (f"; {others}" if others else "") + ")")
    worst = min(best)
    status = "ok" if worst >= AUROC_GOOD else "bad" if worst < AUROC_POOR else "warn"
    advice = "" if status == "ok" else (
        "These inputs are not told apart well; a posterior with more weight uncertainty "
        "where there are no data (a wider prior, a richer guide) may do better.")
    return Verdict("Out-of-distribution detection", status,
                   "; ".join(parts) + f" (0.5 is chance; {AUROC_GOOD} and above read good).",
                   advice)


def optimisation_verdict(layers, total=None):
    """Whether every layer's loss converged over the last steps.

    A layer's loss that rises while the total does not is a trade-off between the terms
    of one objective (a KL that grows as its layer gets used), not a divergence.

    :param layers: :class:`~pyro_local.diagnostics.convergence.LayerConvergence` records.
    :param LayerConvergence total: the same for the sum of the layers' losses, if known.
    :rtype: Verdict
    """
    layers = list(layers)
    short = [c.layer for c in layers if c.state == "too few steps"]
    improving = [c for c in layers if c.state == "improving"]
    rising = [c for c in layers if c.state == "rising"]
    window = max((c.window for c in layers), default=0)
    noisy = [c for c in layers if c.state == "within noise"]
    if not improving and not rising and not short:
        finding = (f"every layer converged: over the last {window} steps its loss moved by "
                   "less than 1 % of its decrease in training")
        if noisy:
            finding += ", or not significantly (" + ", ".join(
                f"{c.layer} {c.relative_change:+.1%}, z = {c.z:.1f}" for c in noisy) + ")"
        return Verdict("Optimisation", "ok", finding + ".")
    parts = [f"{c.layer} still improves by {abs(c.relative_change):.1%} of its decrease in "
             "training" for c in improving]
    parts += [f"{c.layer} rises by {abs(c.relative_change):.1%} of its decrease in training"
              for c in rising]
    parts = ["; ".join(parts) + f" over the last {window} steps (10 %)"] if parts else []
    if short:  # judged by no window: their histories are under two windows long
        parts.append(f"too few steps to judge {', '.join(short)} (under "
                     f"{2 * MIN_WINDOW} steps)")
    finding = "; ".join(parts)
    trade_off = rising and total is not None and total.state != "rising"
    if trade_off:
        finding += ", while the total loss does not rise"
    if rising and not trade_off:
        return Verdict("Optimisation", "bad", finding + ".", "A rising loss: lower the "
                       "learning rate of the rising layers.")
    advice = "Train longer (resume the run) before reading the other diagnostics." \
        if improving or short else ""
    if trade_off:
        advice += (" A layer's term rising while the total does not is a trade-off between "
                   "the terms of one objective (e.g. a KL growing as its layer gets used); "
                   "if the layers are trained by separate objectives, lower its learning "
                   "rate.")
    return Verdict("Optimisation", "warn", finding + ".", advice.strip())
