"""Posterior diagnostics of variational fits: ArviZ export, PSIS k-hat, LOO, predictive
checks, calibration and uncertainty metrics, simulation-based calibration, verdicts in
words, and a self-contained HTML report.

Importing this package imports neither ArviZ nor Matplotlib; the functions that need
them import them when called.

Typical use::

    from pyro_local import diagnostics as D

    idata = D.to_inference_data(model, guide, x, y, num_samples=1000, history=history)
    print(D.variational_khat(idata).overall)
    print(D.variational_loo(idata))                   # arviz.ELPDData
    D.add_held_out(idata, test_draw_probs, test_labels)  # classifiers
    D.write_report("report.html", D.build_report(idata))
"""

from .calibration import (
    CalibrationGap,
    CalibrationSummary,
    ReliabilityDiagram,
    brier_score,
    calibration_gap,
    calibration_summary,
    expected_calibration_error,
    gaussian_nll,
    negative_log_likelihood,
    reliability_diagram,
)
from .classification import classifier_metrics, ood_images
from .convergence import LayerConvergence, convergence
from .draws import GLOBAL, Draws, collect_draws
from .held_out import add_held_out, held_out_dataset
from .html_page import Section, figure_html, render_page, table_html
from .inference_data import (
    concat_fits,
    draws_to_inference_data,
    history_dataset,
    load_netcdf,
    save_netcdf,
    to_inference_data,
)
from .loo import IMPORTANCE, PLUG_IN, loo_from_arrays, variational_loo
from .provenance import provenance
from .psis import (
    KhatReading,
    PSISResult,
    VariationalKhat,
    khat_threshold,
    psis,
    psis_khat,
    psis_many,
    variational_khat,
)
from .report import build_report, write_report
from .uncertainty import mutual_information, ood_auroc, predictive_entropy
from .verdicts import Verdict
from .vsbc import VSBCResult, vsbc

__all__ = [
    "GLOBAL",
    "IMPORTANCE",
    "PLUG_IN",
    "CalibrationGap",
    "CalibrationSummary",
    "Draws",
    "KhatReading",
    "LayerConvergence",
    "PSISResult",
    "ReliabilityDiagram",
    "Section",
    "VSBCResult",
    "VariationalKhat",
    "Verdict",
    "add_held_out",
    "brier_score",
    "build_report",
    "calibration_gap",
    "calibration_summary",
    "classifier_metrics",
    "collect_draws",
    "concat_fits",
    "convergence",
    "draws_to_inference_data",
    "expected_calibration_error",
    "figure_html",
    "gaussian_nll",
    "held_out_dataset",
    "history_dataset",
    "khat_threshold",
    "load_netcdf",
    "loo_from_arrays",
    "mutual_information",
    "negative_log_likelihood",
    "ood_auroc",
    "ood_images",
    "predictive_entropy",
    "provenance",
    "psis",
    "psis_khat",
    "psis_many",
    "reliability_diagram",
    "render_page",
    "save_netcdf",
    "table_html",
    "to_inference_data",
    "variational_khat",
    "variational_loo",
    "vsbc",
    "write_report",
]
