"""Posterior diagnostics of variational fits: ArviZ export, PSIS k-hat, LOO,
calibration and uncertainty metrics, and a self-contained HTML report.

Importing this package imports neither ArviZ nor Matplotlib; the functions that need
them import them when called.

Typical use::

    from pyro_local import diagnostics as D

    idata = D.to_inference_data(model, guide, x, y, num_samples=1000, history=history)
    print(D.variational_khat(idata).overall)
    print(D.variational_loo(idata))
    D.write_report("report.html", D.build_report(idata, config=config))
"""

from .calibration import (
    CalibrationSummary,
    ReliabilityDiagram,
    brier_score,
    calibration_summary,
    expected_calibration_error,
    gaussian_nll,
    negative_log_likelihood,
    reliability_diagram,
)
from .classification import classifier_metrics, ood_images
from .draws import GLOBAL, Draws, collect_draws
from .inference_data import (
    concat_fits,
    draws_to_inference_data,
    history_dataset,
    load_netcdf,
    save_netcdf,
    to_inference_data,
)
from .loo import IMPORTANCE, PLUG_IN, loo_from_arrays, variational_loo
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
from .report import Section, build_report, figure_html, render_page, table_html, write_report
from .uncertainty import mutual_information, ood_auroc, predictive_entropy

__all__ = [
    "GLOBAL",
    "CalibrationSummary",
    "Draws",
    "KhatReading",
    "IMPORTANCE",
    "PLUG_IN",
    "PSISResult",
    "ReliabilityDiagram",
    "Section",
    "VariationalKhat",
    "brier_score",
    "build_report",
    "calibration_summary",
    "classifier_metrics",
    "collect_draws",
    "concat_fits",
    "draws_to_inference_data",
    "expected_calibration_error",
    "figure_html",
    "gaussian_nll",
    "history_dataset",
    "load_netcdf",
    "loo_from_arrays",
    "mutual_information",
    "negative_log_likelihood",
    "ood_images",
    "ood_auroc",
    "predictive_entropy",
    "psis",
    "psis_khat",
    "psis_many",
    "khat_threshold",
    "reliability_diagram",
    "render_page",
    "save_netcdf",
    "table_html",
    "to_inference_data",
    "variational_khat",
    "variational_loo",
    "write_report",
]
