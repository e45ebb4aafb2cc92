"""Figures of the predictive checks: reliability, confusion, class frequencies, per-feature
means, LOO-PIT, out-of-distribution scores (Matplotlib object API, no pyplot)."""

from __future__ import annotations

import math

import numpy as np

from .figures import new_figure

__all__ = ["plot_class_frequencies", "plot_confusion", "plot_feature_means", "plot_ood",
           "plot_pit", "plot_ppc", "plot_reliability"]


def plot_reliability(edges, confidence, accuracy, count):
    """Reliability diagram: the accuracy of each confidence bin as a bar, the gap to the
    bin's mean confidence as a red segment, and the points per bin."""
    edges, confidence, accuracy, count = (
        np.asarray(a, dtype=float) for a in (edges, confidence, accuracy, count)
    )
    fig, (ax, ax_count) = new_figure(2, 1, width=7.5, height=3.3)
    width = np.diff(edges)
    filled = count > 0
    ax.bar(edges[:-1][filled], accuracy[filled], width=width[filled], align="edge",
           edgecolor="black", alpha=0.6, label="accuracy of the bin")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="calibrated")
    ax.vlines(confidence[filled], accuracy[filled], confidence[filled], color="tab:red", lw=2,
              label="gap to the bin's mean confidence")
    ax.plot(confidence[filled], confidence[filled], "_", color="tab:red", ms=8)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (largest predictive probability)",
           ylabel="accuracy")
    ax.legend(fontsize="small", loc="upper left")
    ax_count.bar(edges[:-1], count, width=width, align="edge", edgecolor="black")
    ax_count.set(xlim=(0, 1), xlabel="confidence", ylabel="points per bin")
    return fig


def plot_confusion(matrix):
    """Row-normalised confusion matrix (true class by row)."""
    matrix = np.asarray(matrix, dtype=float)
    rows = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    size = 1.0 + 0.45 * matrix.shape[0]
    fig, (ax,) = new_figure(width=size + 1.2, height=size)
    image = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    for (i, j), value in np.ndenumerate(rows):
        if value >= 0.005:
            ax.text(j, i, f"{value:.2f}"[1:] if value < 1 else "1", ha="center", va="center",
                    fontsize=7, color="white" if value > 0.5 else "black")
    ticks = np.arange(matrix.shape[0])
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set(xlabel="predicted class", ylabel="true class")
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true class")
    return fig


def plot_class_frequencies(observed, replicated):
    """Observed count of each class against its replicated distribution (median and 95 %
    interval over the replicated data sets).

    :param observed: ``(C,)`` observed counts.
    :param replicated: ``(R, C)`` counts in each replicated data set.
    """
    observed = np.asarray(observed, dtype=float)
    replicated = np.asarray(replicated, dtype=float)
    low, mid, high = np.percentile(replicated, [2.5, 50, 97.5], axis=0)
    x = np.arange(observed.size)
    fig, (ax,) = new_figure(width=max(4.5, 0.5 * observed.size + 2.5), height=3.0)
    ax.errorbar(x, mid, yerr=[mid - low, high - mid], fmt="o", color="tab:blue", capsize=3,
                label="replicated (median, 95 %)")
    ax.plot(x, observed, "kx", ms=8, label="observed")
    ax.set_xticks(x)
    ax.set(xlabel="class", ylabel="count")
    ax.legend(fontsize="small")
    return fig


def plot_feature_means(observed, replicated, pvalues):
    """Per-feature means: as images when the features make a square, else a scatter.

    :param observed: ``(D,)`` observed mean of each feature over the data points.
    :param replicated: ``(D,)`` mean of the replicated means.
    :param pvalues: ``(D,)`` two-sided posterior predictive p-values.
    """
    observed, replicated, pvalues = (np.asarray(a, dtype=float).ravel()
                                     for a in (observed, replicated, pvalues))
    side = math.isqrt(observed.size)
    if side * side == observed.size and side > 1:
        fig, axes = new_figure(3, 1, width=8.0, height=2.9)
        panels = [(observed, "observed mean", "gray_r", (0, None)),
                  (replicated, "replicated mean", "gray_r", (0, None)),
                  (-np.log10(np.maximum(pvalues, 1e-300)), "-log10 p", "magma", (0, 4))]
        top = max(observed.max(), replicated.max())
        for ax, (values, title, cmap, (vmin, vmax)) in zip(axes, panels, strict=True):
            image = ax.imshow(values.reshape(side, side), cmap=cmap, vmin=vmin,
                              vmax=top if vmax is None else vmax)
            ax.set_title(title, fontsize="medium")
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(image, ax=ax, shrink=0.8)
        return fig
    fig, (ax,) = new_figure(width=4.5, height=4.0)
    ax.plot(observed, replicated, ".", ms=4)
    lim = [min(observed.min(), replicated.min()), max(observed.max(), replicated.max())]
    ax.plot(lim, lim, "k--", lw=1)
    ax.set(xlabel="observed mean", ylabel="replicated mean")
    return fig


def plot_pit(pit):
    """Empirical CDF of LOO-PIT values minus the uniform CDF, with the 95 % band of the
    Kolmogorov-Smirnov statistic."""
    pit = np.sort(np.asarray(pit, dtype=float))
    n = pit.size
    ecdf = np.arange(1, n + 1) / n
    band = 1.358 / math.sqrt(n)  # 95 % quantile of sqrt(n) * KS under uniformity
    fig, (ax,) = new_figure(width=5.5, height=3.0)
    ax.plot(pit, ecdf - pit, lw=1.5)
    ax.axhspan(-band, band, color="0.9", zorder=0, label="95 % band for uniform PIT")
    ax.axhline(0, color="k", lw=0.8)
    ax.set(xlim=(0, 1), xlabel="LOO-PIT", ylabel="ECDF - uniform")
    ax.legend(fontsize="small")
    return fig


def plot_ood(scores, score_name):
    """Histograms of an uncertainty score on held-out inputs and on each
    out-of-distribution set.

    :param dict scores: set name -> scores (the held-out set first).
    :param str score_name: the score's name.
    """
    pooled = np.concatenate([np.asarray(v, dtype=float) for v in scores.values()])
    bins = np.histogram_bin_edges(pooled, bins=30)
    fig, (ax,) = new_figure(width=6.0, height=3.0)
    for name, values in scores.items():
        ax.hist(np.asarray(values, dtype=float), bins=bins, density=True, alpha=0.5,
                label=str(name))
    ax.set(xlabel=score_name, ylabel="density")
    ax.legend(fontsize="small")
    return fig


def plot_ppc(name, observed, replicated, max_replicates=30):
    """Histogram of the observed data against histograms of replicated data sets.

    :param observed: observed values (any shape).
    :param replicated: ``(draws, *observed.shape)`` posterior predictive draws.
    """
    observed = np.asarray(observed, dtype=float).ravel()
    replicated = np.asarray(replicated, dtype=float).reshape(len(replicated), -1)
    pooled = np.concatenate([observed, replicated.ravel()])
    pooled = pooled[np.isfinite(pooled)]
    if np.all(pooled == np.round(pooled)) and np.ptp(pooled) <= 50:
        bins = np.arange(pooled.min() - 0.5, pooled.max() + 1.5)  # one bin per integer
    else:
        bins = np.histogram_bin_edges(pooled, bins=min(40, max(10, observed.size // 5)))
    fig, (ax,) = new_figure(width=6.0, height=3.0)
    step = max(1, len(replicated) // max_replicates)
    for i, rep in enumerate(replicated[::step]):
        ax.hist(rep, bins=bins, density=True, histtype="step", color="tab:blue", alpha=0.25,
                lw=1, label="replicated" if i == 0 else None)
    ax.hist(observed, bins=bins, density=True, histtype="step", color="black", lw=2,
            label="observed")
    ax.set(title=str(name), xlabel="value", ylabel="density")
    ax.legend(fontsize="small")
    return fig
