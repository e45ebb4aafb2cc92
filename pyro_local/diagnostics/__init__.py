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

from .calibration import CalibrationSummary, calibration_summary
from .classification import classifier_metrics
from .convergence import LayerConvergence, convergence
from .draws import Draws, collect_draws
from .held_out import add_held_out
from .html_page import Section, figure_html, table_html
from .inference_data import concat_fits, load_netcdf, save_netcdf, to_inference_data
from .latent_activity import LayerActivity, latent_activity
from .loo import variational_loo
from .provenance import provenance
from .psis import PSISResult, VariationalKhat, variational_khat
from .report import build_report, write_report
from .vsbc import VSBCResult, vsbc

__all__ = [
    "CalibrationSummary",
    "Draws",
    "LayerActivity",
    "LayerConvergence",
    "PSISResult",
    "Section",
    "VSBCResult",
    "VariationalKhat",
    "add_held_out",
    "build_report",
    "calibration_summary",
    "classifier_metrics",
    "collect_draws",
    "concat_fits",
    "convergence",
    "figure_html",
    "latent_activity",
    "load_netcdf",
    "provenance",
    "save_netcdf",
    "table_html",
    "to_inference_data",
    "variational_khat",
    "variational_loo",
    "vsbc",
    "write_report",
]
