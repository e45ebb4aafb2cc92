"""Inference: the per-layer ELBO and the local SVI engine."""

from .averaging import ParameterEMA
from .errors import NonFiniteLossError
from .importance import ImportanceEstimate, importance_log_likelihood, iwae_bound
from .local_elbo import LocalELBO, SiteTerm, get_traces, guide_is_prior, site_terms
from .local_svi import LocalSVI, Mode
from .memory import SavedTensorMeter
from .ownership import LayerLeakError
from .run import RunResult, run
from .svi_state import LocalSVIState, StepInfo

__all__ = [
    "ImportanceEstimate",
    "LayerLeakError",
    "LocalELBO",
    "LocalSVI",
    "LocalSVIState",
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
