"""Inference: the per-layer ELBO and the local SVI engine."""

from .averaging import ParameterEMA
from .errors import NonFiniteLossError
from .importance import ImportanceEstimate, importance_log_likelihood, iwae_bound
from .local_elbo import LocalELBO, SiteTerm, get_traces, guide_is_prior, site_terms
from .local_net import LocalNet
from .local_svi import LocalSVI, Mode, StepInfo
from .memory import SavedTensorMeter
from .ownership import LayerLeakError
from .run import RunResult, run

__all__ = [
    "ImportanceEstimate",
    "LayerLeakError",
    "LocalELBO",
    "LocalNet",
    "LocalSVI",
    "Mode",
    "NonFiniteLossError",
    "ParameterEMA",
    "RunResult",
    "SavedTensorMeter",
    "SiteTerm",
    "StepInfo",
    "get_traces",
    "guide_is_prior",
    "importance_log_likelihood",
    "iwae_bound",
    "run",
    "site_terms",
]
