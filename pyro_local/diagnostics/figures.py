"""Figures of the fit and the posterior, drawn with Matplotlib's object API (no pyplot).

Each ``plot_*`` function takes plain arrays and returns a
:class:`matplotlib.figure.Figure`; :func:`figure_data_uri` turns it into an embeddable
``data:image/png;base64,...`` URI. Figures are drawn on their own Agg canvas, so the
user's Matplotlib backend and open figures are never touched. The predictive checks'
figures are in :mod:`~pyro_local.diagnostics.figures_predictive`.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np

from .psis import GOOD_KHAT

__all__ = ["figure_data_uri", "new_figure", "plot_history", "plot_khat", "plot_loo_khat",
           "plot_scale_spectra", "plot_sparsity"]


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


def _thresholds(ax, threshold):
    ax.axhline(GOOD_KHAT, color="tab:orange", lw=1, ls="--", label=f"{GOOD_KHAT}")
    ax.axhline(threshold, color="tab:red", lw=1, ls="--", label=f"{threshold:.2f} (threshold)")


def plot_history(loss, layers, window=None):
    """Each layer's loss (negative local ELBO) per step; one panel per layer, one line
    per fit; the last ``window`` steps (the convergence test's) shaded.

    :param loss: ``(chains, layers, steps)`` array, NaN-padded.
    :param layers: layer names.
    :param int window: steps of the convergence test, or ``None``.
    """
    loss = np.asarray(loss, dtype=float)
    ncols = min(3, len(layers))
    nrows = math.ceil(len(layers) / ncols)
    fig, axes = new_figure(ncols, nrows, width=3.2 * ncols + 0.6, height=2.6 * nrows)
    for ax, name, series in zip(axes, layers, np.moveaxis(loss, 1, 0), strict=False):
        for chain, values in enumerate(series):
            ax.plot(np.arange(values.size), values, lw=1, label=f"fit {chain}")
        finite = series[np.isfinite(series)]
        if finite.size > 20:
            # The first steps' large losses would flatten the rest: limits from the
            # steps after the first 10 %.
            later = series[:, series.shape[-1] // 10 :]
            later = later[np.isfinite(later)]
            low, high = np.percentile(finite, 0.5), np.percentile(later, 99.5)
            pad = 0.05 * (high - low) or 1.0
            ax.set_ylim(low - pad, high + pad)
        if window:
            steps = np.isfinite(series).sum(-1).max()
            ax.axvspan(steps - window, steps, color="0.9", zorder=0)
        ax.set_title(str(name))
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
    for ax in axes[len(layers):]:
        ax.set_visible(False)
    if loss.shape[0] > 1:
        axes[0].legend(fontsize="small")
    return fig


def plot_khat(names, khats, threshold):
    """k-hat per term (overall and layers), one marker per fit, with the 0.5 line and
    the threshold for the number of draws. Every finite value is inside the axes (a
    symmetric-log scale above 1 when some exceed 2); ``inf`` (no tail could be fitted)
    is drawn as an upward triangle at the top, ``-inf`` (bounded ratios) as a downward
    one at the bottom.

    :param names: term names.
    :param khats: ``(fits, terms)`` array.
    :param float threshold: the k-hat threshold for this many draws.
    """
    khats = np.asarray(khats, dtype=float)
    finite = khats[np.isfinite(khats)]
    low = min(-0.2, finite.min() - 0.1) if finite.size else -0.2
    high = max(1.0, finite.max() + 0.1) if finite.size else 1.0
    fig, (ax,) = new_figure(width=max(4.0, 0.9 * len(names) + 2.5), height=3.0)
    log = high > 2
    if log:
        ax.set_yscale("symlog", linthresh=1.0, linscale=2.0)
    top = high * 1.6 if log else high + 0.06 * (high - low)
    bottom = low - 0.06 * (high - low)
    x = np.arange(len(names))
    for fit, row in enumerate(khats):
        line = ax.plot(x[np.isfinite(row)], row[np.isfinite(row)], "o", label=f"fit {fit}")[0]
        for value, marker, y in ((np.inf, "^", top), (-np.inf, "v", bottom)):
            where = row == value
            if where.any():
                ax.plot(x[where], np.full(where.sum(), y), marker, color=line.get_color(),
                        label=f"fit {fit}: {'inf' if value > 0 else '-inf'}")
    _thresholds(ax, threshold)
    if log:
        ax.set_ylim(low - 0.2, top * 1.5)
    else:
        ax.set_ylim(bottom - 0.06 * (high - low), top + 0.06 * (high - low))
    ax.set_xticks(x, [str(n) for n in names], rotation=30, ha="right")
    ax.set_ylabel("Pareto k-hat" + (" (symlog)" if log else ""))
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def plot_loo_khat(khats, threshold):
    """Per-point k-hat of the LOO weights, one panel per fit."""
    fig, axes = new_figure(len(khats), 1, width=3.4 * len(khats) + 0.6, height=2.8)
    for fit, (ax, khat) in enumerate(zip(axes, khats, strict=True)):
        khat = np.asarray(khat, dtype=float)
        ax.plot(np.arange(khat.size), np.where(np.isfinite(khat), khat, np.nan), ".", ms=3)
        _thresholds(ax, threshold)
        ax.set_xlabel("data point")
        ax.set_ylabel("k-hat")
        ax.set_title(f"fit {fit}")
    return fig


def plot_scale_spectra(spectra, prior_sd):
    """Posterior standard deviations of each weight matrix, by row (input unit) and by
    column (output unit), sorted in decreasing order, with the prior's as a line.

    :param dict spectra: layer -> (row values, column values): the root-mean-square
        posterior sd of the entries of each row and of each column.
    :param dict prior_sd: layer -> the prior sd of an entry (or ``None``).
    """
    fig, (ax_row, ax_col) = new_figure(2, 1, width=7.5, height=3.2)
    for layer, (row, col) in spectra.items():
        for ax, values in ((ax_row, row), (ax_col, col)):
            values = np.sort(np.asarray(values, dtype=float).ravel())[::-1]
            line = ax.plot(np.arange(1, values.size + 1), values, lw=1.5, label=str(layer))[0]
            if prior_sd.get(layer) is not None:
                ax.axhline(prior_sd[layer], color=line.get_color(), lw=1, ls=":")
    for ax, what in ((ax_row, "row"), (ax_col, "column")):
        ax.set(yscale="log", xlabel=f"{what} (sorted)", ylabel="posterior sd (rms)",
               title=f"by {what}; dotted: prior sd")
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
