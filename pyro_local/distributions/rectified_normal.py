"""The rectified Gaussian ``z = max(0, y)``, ``y ~ Normal(loc, scale)``."""

from __future__ import annotations

import math

import torch
from pyro.distributions.torch_distribution import TorchDistribution
from torch.distributions import biject_to, constraints, transform_to
from torch.distributions.utils import _standard_normal, broadcast_all

from .truncated_moments import log_ndtr, truncated_normal_moments

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class _RectifiedSupport(constraints._GreaterThanEq):
    """
    ``[0, inf)`` with an atom at 0: the support of :class:`RectifiedNormal`. It is a
    constraint of its own so that no bijection to the real line is registered for
    it (see :func:`_no_bijection`).
    """

    def __init__(self):
        super().__init__(0.0)

    def __repr__(self):
        return "RectifiedSupport(atom at 0, density on z > 0)"


#: The support of :class:`RectifiedNormal`.
rectified_support = _RectifiedSupport()


@biject_to.register(_RectifiedSupport)
@transform_to.register(_RectifiedSupport)
def _no_bijection(constraint):
    # Pyro's generic autoguides and HMC/NUTS map a site's support to the real line.
    # exp would do for [0, inf) but gives the atom at 0 probability 0: the posterior
    # found would be wrong without a warning. Refuse, and name the right tool.
    raise ValueError(
        "a RectifiedNormal site has an atom at 0 that no bijection to the real line "
        "can represent, so generic autoguides (AutoNormal, AutoDiagonalNormal, ...) and "
        "HMC/NUTS would miss it: guide rectified sites with "
        "pyro_local.guides.AutoRectifiedNormal (or a RectifiedNormal guide site)"
    )


class RectifiedNormal(TorchDistribution):
    """
    Rectified Gaussian: a normal variable with its negative values set to zero.

    ``z = max(0, y)`` with ``y ~ Normal(loc, scale)`` has an atom at zero and a normal
    density on the positive half-line (Salimans, 2016). Densities are taken with
    respect to the base measure (point mass at 0) + (Lebesgue measure on ``z > 0``)::

        log_prob(0) = log Phi(-loc / scale)                  # the atom, P(z = 0)
        log_prob(z) = log Normal(z; loc, scale)              # for z > 0

    so a prior and a guide of this family share one base measure and their log-ratio,
    and the KL divergence registered with ``torch.distributions.kl_divergence``, are
    well defined.
    The atom is computed with ``log_ndtr``, never ``log(cdf)``, so it stays finite for
    ``loc / scale`` far into either tail.

    Samples are reparameterized, ``relu(loc + scale * eps)``, and carry pathwise
    gradients. Beware that the pathwise gradient of a single-sample estimate of
    ``log q(z) - log p(z)`` between two rectified Gaussians is biased, because the jump
    between atom and density at zero moves with the parameters; use the closed-form
    ``kl_divergence`` (e.g. through :class:`~pyro.infer.TraceMeanField_ELBO`) instead.

    :param loc: location of the underlying normal (any real).
    :param scale: scale of the underlying normal (positive).

    Example::

        >>> d = RectifiedNormal(torch.tensor(-1.0), torch.tensor(2.0))
        >>> float(d.prob_zero)  # Phi(1/2)
        0.6914...
        >>> d.log_prob(torch.tensor([0.0, 1.0])).exp()  # an atom and a density
        tensor([0.6915, 0.1210])
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = rectified_support
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = broadcast_all(loc, scale)
        super().__init__(self.loc.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(RectifiedNormal, _instance)
        batch_shape = torch.Size(batch_shape)
        new.loc = self.loc.expand(batch_shape)
        new.scale = self.scale.expand(batch_shape)
        super(RectifiedNormal, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def log_prob_zero(self):
        """``log P(z = 0) = log Phi(-loc / scale)``."""
        return log_ndtr(-self.loc / self.scale)

    @property
    def prob_zero(self):
        """``P(z = 0) = Phi(-loc / scale)``, the weight of the atom."""
        return self.log_prob_zero.exp()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        w = (value - self.loc) / self.scale
        log_density = -0.5 * w**2 - self.scale.log() - _LOG_SQRT_2PI
        # Both branches are finite for any value, so the unused one cannot turn the
        # gradient into nan. Outside the support (value < 0) the density is 0; a nan
        # value stays nan, as in torch's Normal.
        outside = torch.full_like(value, math.nan).masked_fill(value < 0, -math.inf)
        atom = torch.where(value == 0, self.log_prob_zero, outside)
        return torch.where(value > 0, log_density, atom)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        eps = _standard_normal(shape, dtype=self.loc.dtype, device=self.loc.device)
        return torch.relu(self.loc + self.scale * eps)

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        # At zero this is Phi(-loc / scale): the atom is included, as cdf(z) = P(Z <= z).
        cdf = torch.special.ndtr((value - self.loc) / self.scale)
        return torch.where(value >= 0, cdf, torch.zeros_like(cdf))

    def icdf(self, value):
        """Smallest ``z`` with ``cdf(z) >= value``; every ``value <= prob_zero`` maps to 0."""
        # ndtri(0) = -inf would make the scale's gradient 0 * inf = nan; level 0 is
        # in the atom anyway.
        w = torch.special.ndtri(value)
        w = torch.where(value > 0, w, torch.zeros_like(w))
        z = torch.relu(self.loc + self.scale * w)
        return torch.where(value > 0, z, torch.zeros_like(z))

    @property
    def mean(self):
        m = truncated_normal_moments(self.loc / self.scale)
        return self.scale * m.log_mass.exp() * m.mean

    @property
    def variance(self):
        # Law of total variance over {z = 0} and {z > 0}: a sum of nonnegative terms,
        # so no cancellation (E[z^2] - E[z]^2 would cancel catastrophically for large
        # loc / scale) and never negative.
        a = self.loc / self.scale
        m = truncated_normal_moments(a)
        prob_zero = log_ndtr(-a).exp()
        return self.scale**2 * m.log_mass.exp() * (m.var + prob_zero * m.mean**2)

    def entropy(self):
        """Entropy with respect to (point mass at 0) + (Lebesgue on ``z > 0``).

        ``-P(0) log P(0) + P(z > 0) (log scale + log(2 pi) / 2 + E[w^2 | z > 0] / 2)``
        with ``w = (z - loc) / scale``. It may be negative, as for any density.
        """
        a = self.loc / self.scale
        m = truncated_normal_moments(a)
        log_prob_zero = log_ndtr(-a)
        second_moment = m.var + m.inv_mills**2  # E[w^2 | z > 0], a sum of positives
        positive = self.scale.log() + _LOG_SQRT_2PI + 0.5 * second_moment
        return -log_prob_zero.exp() * log_prob_zero + m.log_mass.exp() * positive
