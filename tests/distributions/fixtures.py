"""One fixture list shared by every distribution of the library.

Each :class:`Fixture` describes a distribution class, several valid parameter sets
and the checks the generic tests in ``test_distributions.py`` run on them (in the
spirit of Pyro's ``tests/distributions/conftest.py``). A distribution joins the
generic tests by adding its records to :data:`FIXTURES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch


@dataclass
class Fixture:
    """A distribution under test.

    :param str name: id used in test names.
    :param type dist_cls: the distribution class.
    :param list params: valid parameter sets, each a dict of float64 tensors passed as
        keyword arguments; they may have batch dimensions.
    :param callable ref_log_prob: ``(params, value) -> log_prob`` computed by an
        independent reference (scipy, a dense equivalent, numerical integration),
        returning a float64 tensor of the distribution's batch shape.
    :param list invalid: ``(params, message)`` pairs; constructing the distribution
        with ``validate_args=True`` must raise ``ValueError`` whose text contains
        ``message`` (normally the argument's name).
    :param callable outside_support: ``(dist) -> value`` giving a value outside the
        support, which ``log_prob`` must reject under validation.
    :param list grad_params: names of parameters whose ``log_prob`` gradient is checked
        against finite differences.
    :param int num_samples: samples drawn for the moment checks.
    """

    name: str
    dist_cls: type
    params: list[dict]
    ref_log_prob: Callable[[dict, torch.Tensor], torch.Tensor]
    invalid: list[tuple[dict, str]] = field(default_factory=list)
    outside_support: Callable | None = None
    grad_params: list[str] = field(default_factory=list)
    num_samples: int = 20000

    def make(self, i, device="cpu", **kwargs):
        params = {k: v.to(device) for k, v in self.params[i].items()}
        return self.dist_cls(**params, validate_args=True, **kwargs)


# Distributions add their records here (see tests/distributions/fixtures_*.py).
FIXTURES: list[Fixture] = []

from .fixtures_matrix_normal import MATRIX_NORMAL_FIXTURES  # noqa: E402  (needs Fixture)
from .fixtures_rectified_normal import RECTIFIED_NORMAL  # noqa: E402

FIXTURES.append(RECTIFIED_NORMAL)
FIXTURES += MATRIX_NORMAL_FIXTURES
