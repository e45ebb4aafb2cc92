"""Inference: the per-layer ELBO (:class:`LocalELBO`) and the local SVI engine
(:class:`LocalSVI`, its state :class:`LocalSVIState` and what a step returns,
:class:`StepInfo`); the importance-sampled log-likelihood of a fitted model
(:func:`importance_log_likelihood`). A NaN or infinite loss or parameter stops the
engine with :class:`NonFiniteLossError` or :class:`NonFiniteParameterError`.
"""

from .errors import NonFiniteLossError, NonFiniteParameterError
from .importance import ImportanceEstimate, importance_log_likelihood
from .local_elbo import LocalELBO
from .local_svi import LocalSVI
from .run import RunResult
from .svi_state import LocalSVIState, StepInfo

__all__ = [
    "ImportanceEstimate",
    "LocalELBO",
    "LocalSVI",
    "LocalSVIState",
    "NonFiniteLossError",
    "NonFiniteParameterError",
    "RunResult",
    "StepInfo",
    "importance_log_likelihood",
]
