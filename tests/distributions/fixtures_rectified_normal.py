"""Generic-test records for :class:`~pyro_local.distributions.RectifiedNormal`.

The reference log-density is scipy's, evaluated separately for the atom at zero
(``norm.logcdf(-loc / scale)``) and for positive values (``norm.logpdf``).
"""

import numpy as np
import torch
from scipy import stats

from pyro_local.distributions import RectifiedNormal

from .fixtures import Fixture


def _t(x):
    return torch.tensor(x, dtype=torch.float64)


def _ref_log_prob(params, value):
    loc = params["loc"].numpy()
    scale = params["scale"].numpy()
    z = value.numpy()
    atom = stats.norm.logcdf(-loc / scale)
    density = stats.norm.logpdf(z, loc, scale)
    return torch.as_tensor(np.where(z > 0, density, atom + 0 * z))


def _negative_value(d):
    return torch.full(d.batch_shape, -0.5, dtype=d.loc.dtype, device=d.loc.device)


RECTIFIED_NORMAL = Fixture(
    name="RectifiedNormal",
    dist_cls=RectifiedNormal,
    params=[
        # A scalar with a sizeable atom and a sizeable slab.
        {"loc": _t(0.3), "scale": _t(1.5)},
        # A batch spanning mostly-zero to mostly-positive, scales over two decades.
        {"loc": _t([-2.0, -0.5, 0.7, 3.0]), "scale": _t([0.5, 1.0, 2.0, 0.1])},
        # Broadcasting: loc (2, 1) against scale (3,) gives batch shape (2, 3). The
        # rarest slab (loc/scale = -2.5, P(z > 0) = 0.006) still gets ~120 of the
        # moment test's draws: with none, the sample-based standard error of the
        # variance would be zero while the variance is not.
        {"loc": _t([[-1.0], [1.0]]), "scale": _t([0.4, 1.0, 5.0])},
        # Far tails: all atom (loc/scale = -40, -12) or all slab (40, 25).
        {"loc": _t([-40.0, 40.0, -6.0, 0.25]), "scale": _t([1.0, 1.0, 0.5, 0.01])},
    ],
    ref_log_prob=_ref_log_prob,
    invalid=[
        ({"loc": _t(0.0), "scale": _t(0.0)}, "scale"),
        ({"loc": _t([0.0, 1.0]), "scale": _t([1.0, -2.0])}, "scale"),
        ({"loc": _t(float("nan")), "scale": _t(1.0)}, "loc"),
    ],
    outside_support=_negative_value,
    grad_params=["loc", "scale"],
)
