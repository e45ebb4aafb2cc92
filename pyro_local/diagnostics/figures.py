"""Figures of the run report, drawn with Matplotlib's object API (no pyplot state).

Each ``plot_*`` function takes plain arrays and returns a
:class:`matplotlib.figure.Figure`; :func:`figure_data_uri` turns it into an embeddable
``data:image/png;base64,...`` URI. Figures are drawn on their own Agg canvas, so the
user's Matplotlib backend and open figures are never touched.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np

__all__ = ["figure_data_uri", "new_figure", "plot_history", "plot_khat", "plot_loo_khat",
           "plot_ood", "plot_ppc", "plot_reliability", "plot_scale_spectra", "plot_sparsity"]

_GOOD, _BAD = 0.5, 0.7


def new_figure(ncols=1, nrows=1, width=7.0, height=3.2):
    """A figure with a grid of axes, on an Agg canvas.

    :returns: the figure and a flat list of its axes.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, list(axes.ravel())


def figure_data_uri(fig):
    """The figure as a base64 PNG data URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _thresholds(ax):
    ax.axhline(_GOOD, color="tab:orange", lw=1, ls="--", label="0.5")
    ax.axhline(_BAD, color="tab:red", lw=1, ls="--", label="0.7")


def plot_history(loss, layers):
    """Each layer's loss (negative local ELBO) per step; one panel per layer, one line
    per fit.

    :param loss: ``(chains, layers, steps)`` array, NaN-padded.
    :param layers: layer names.
    """
    loss = np.asarray(loss, dtype=float)
    ncols = min(3, len(layers))
    nrows = math.ceil(len(layers) / ncols)
    fig, axes = new_figure(ncols, nrows, width=3.2 * ncols + 0.6, height=2.6 * nrows)
    for ax, name, series in zip(axes, layers, np.moveaxis(loss, 1, 0), strict=False):
        for chain, values in enumerate(series):
            ax.plot(np.arange(values.size), values, lw=1, label=f"fit {chain}")
        ax.set_title(str(name))
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
    for ax in axes[len(layers):]:
        ax.set_visible(False)
    if loss.shape[0] > 1:
        axes[0].legend(fontsize="small")
    return fig


def plot_khat(names, khats):
    """k-hat per term (overall and layers), one marker per fit, with the 0.5 and 0.7 lines.

    :param names: term names.
    :param khats: ``(fits, terms)`` array; ``-inf`` is drawn at the bottom of the axis.
    """
    khats = np.asarray(khats, dtype=float)
    finite = khats[np.isfinite(khats)]
    low = min(-0.2, finite.min() - 0.1) if finite.size else -0.2
    high = max(1.0, finite.max() + 0.1) if finite.size else 1.0
    fig, (ax,) = new_figure(width=max(4.0, 0.9 * len(names) + 2), height=3.0)
    x = np.arange(len(names))
    for fit, row in enumerate(khats):
        ax.plot(x, np.clip(row, low, high), "o", label=f"fit {fit}")
    _thresholds(ax)
    ax.set_ylim(low - 0.05, high + 0.05)
    ax.set_xticks(x, [str(n) for n in names], rotation=30, ha="right")
    ax.set_ylabel("Pareto k-hat")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def plot_loo_khat(khats):
    """Per-point k-hat of the LOO weights, one panel per fit."""
    fig, axes = new_figure(len(khats), 1, width=3.4 * len(khats) + 0.6, height=2.8)
    for fit, (ax, khat) in enumerate(zip(axes, khats, strict=True)):
        khat = np.asarray(khat, dtype=float)
        ax.plot(np.arange(khat.size), np.where(np.isfinite(khat), khat, np.nan), ".", ms=3)
        _thresholds(ax)
        ax.set_xlabel("data point")
        ax.set_ylabel("k-hat")
        ax.set_title(f"fit {fit}")
    return fig


def plot_reliability(edges, confidence, accuracy, count):
    """Reliability diagram: accuracy against confidence per bin, and the bin counts."""
    edges, confidence, accuracy, count = (
        np.asarray(a, dtype=float) for a in (edges, confidence, accuracy, count)
    )
    fig, (ax, ax_count) = new_figure(2, 1, width=7.0, height=3.2)
    width = np.diff(edges)
    filled = count > 0
    ax.bar(edges[:-1][filled], accuracy[filled], width=width[filled], align="edge",
           edgecolor="black", alpha=0.7, label="accuracy")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.plot(confidence[filled], accuracy[filled], "o", color="tab:red", ms=3,
            label="mean confidence")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy")
    ax.legend(fontsize="small", loc="upper left")
    ax_count.bar(edges[:-1], count, width=width, align="edge", edgecolor="black")
    ax_count.set(xlim=(0, 1), xlabel="confidence", ylabel="points per bin")
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


def plot_scale_spectra(scales):
    """Row and column scales of each weight posterior, sorted in decreasing order.

    :param dict scales: layer -> (row scales, column scales).
    """
    fig, (ax_row, ax_col) = new_figure(2, 1, width=7.0, height=3.0)
    for layer, (row, col) in scales.items():
        for ax, values in ((ax_row, row), (ax_col, col)):
            values = np.sort(np.asarray(values, dtype=float).ravel())[::-1]
            ax.plot(np.arange(1, values.size + 1), values, lw=1.5, label=str(layer))
    for ax, what in ((ax_row, "row"), (ax_col, "column")):
        ax.set(yscale="log", xlabel=f"{what} (sorted)", ylabel=f"{what} scale",
               title=f"{what} scales")
    ax_row.legend(fontsize="small")
    return fig


def plot_sparsity(layers, fractions):
    """Fraction of exactly-zero units per rectified layer."""
    fig, (ax,) = new_figure(width=max(4.0, 0.8 * len(layers) + 2), height=3.0)
    x = np.arange(len(layers))
    ax.bar(x, fractions, color="tab:green", edgecolor="black")
    ax.set_xticks(x, [str(n) for n in layers], rotation=30, ha="right")
    ax.set(ylim=(0, 1), ylabel="fraction of units exactly 0")
    return fig


def plot_ood(score_in, score_out, score_name):
    """Histograms of an uncertainty score on in- and out-of-distribution inputs."""
    score_in = np.asarray(score_in, dtype=float)
    score_out = np.asarray(score_out, dtype=float)
    bins = np.histogram_bin_edges(np.concatenate([score_in, score_out]), bins=30)
    fig, (ax,) = new_figure(width=6.0, height=3.0)
    ax.hist(score_in, bins=bins, density=True, alpha=0.6, label="in distribution")
    ax.hist(score_out, bins=bins, density=True, alpha=0.6, label="out of distribution")
    ax.set(xlabel=score_name, ylabel="density")
    ax.legend(fontsize="small")
    return fig
