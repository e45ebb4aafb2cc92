"""SVP: stochastic layers with local ELBOs on fixed random projections (Yin & Corradi).

Layer ``l`` of a network trained with Stochastic Variational Propagation is a latent
variable model of its own: the block computes ``a = f(h)`` from the layer's (cut)
input ``h``, and the activation passed on is a sample ``z ~ p(z | a)`` (multiplicative
or additive Gaussian noise around ``a``). Its local ELBO is::

    E_q(z|h)[ log p(y | z) ] - KL(q(z | h) || p(z | h))

SVP takes the variational conditional to be the model's own, ``q(z | h) = p(z | a)``:
the activation site is marked ``guide_is_prior`` and its KL term is exactly zero.
A direct KL between adjacent layers' activations would collapse the representations
(the paper's motivating observation); in its place stands a **feature alignment**
term between *auxiliary categorical posteriors* over ``d0`` codes, read off through
FIXED random projections (Johnson-Lindenstrauss maps, drawn once from a seed, never
trained)::

    q_l(k | z)     = softmax(R_l pool(z) / T)_k        R_l: d0 x d_l
    q_{l-1}(k | h) = softmax(P_l pool(h) / T)_k        P_l: d0 x d_{l-1}

We implement the Bhattacharyya form of SVP v4 ("Stochastic Layer-wise Learning"):
``align = -w * D_B(q_l, q_{l-1})`` per example, with the Bhattacharyya distance
``D_B(p, q) = -log sum_k sqrt(p_k q_k)``. Why this one: it is symmetric and bounded
for distributions with common support, and, unlike a KL between the two categorical
posteriors, it neither explodes when the layer puts little mass where the layer
below puts much nor rewards collapsing onto the code the layer below favours most.
The target ``q_{l-1}`` is computed from the layer's input, which is cut: no gradient
reaches the layer below, and ``P_l`` (a fixed projection of the input's geometry)
plays the role of the layer below's projection, so each layer's objective is
self-contained. The paper leaves open which distributions are aligned; we align
adjacent layers (the v1 abstract's "inter-layer consistency").

The label's likelihood is that of the auxiliary posterior: the code ``k`` is drawn
from ``q_l(k | z)`` and the label from a learned table ``pi(y | k)`` (``C x d0``
logits), marginalised exactly::

    p(y | z) = sum_k q_l(k | z) pi(y | k)

When ``d0`` equals the number of classes the table may be fixed to the identity
(``readout="identity"``), and ``p(y | z) = q_l(y | z)``: the layer is trained through
the fixed projection alone, as SVP does for ViTs.
"""

from __future__ import annotations

import dataclasses
import enum

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F

from .features import (
    check_pool,
    coerce_enum_fields,
    fixed_gaussian,
    pool_features,
    pooled_dim,
)
from .local_heads import LocalHead

#: The offset between the seeds of a layer's two fixed projections.
_INPUT_PROJECTION_STREAM = 7919


class Noise(str, enum.Enum):
    """The stochastic layer of SVP: the activation's conditional ``p(z | a)``."""

    #: ``z = a * m`` with ``m ~ N(1, s^2)`` per unit (Gaussian dropout); the latent
    #: site is the noise ``m``.
    MULTIPLICATIVE = "multiplicative"
    #: ``z ~ N(a, s^2)`` per unit; the latent site is ``z``.
    GAUSSIAN = "gaussian"
    #: ``z = a``: a deterministic layer, no latent site.
    NONE = "none"


class Readout(str, enum.Enum):
    """How the label depends on the auxiliary code ``k``."""

    #: a learned ``C x d0`` table of logits ``pi(y | k)`` (starts uniform).
    TABLE = "table"
    #: ``pi(y | k) = [y == k]``; needs ``d0 == num_classes``.
    IDENTITY = "identity"


def bhattacharyya_distance(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """
    ``D_B(p, q) = -log sum_k sqrt(p_k q_k)`` over the last dimension, from
    log-probabilities (stable: a log-sum-exp of ``(log p + log q) / 2``).

    :returns: a tensor of the batch shape, ``>= 0``, zero exactly when ``p == q``.
    """
    return -torch.logsumexp(0.5 * (log_p + log_q), dim=-1)


class SVPHead(LocalHead):
    """
    The SVP objective of one layer; see the module docstring for the mathematics.

    Sites, inside the ``"data"`` plate: the stochastic activation (``"noise"`` or
    ``"z"``, marked ``guide_is_prior``), the label ``"y"`` (observed) and the factor
    ``"align"``. The fixed projections are buffers (``projection`` ``d0 x d_l`` and
    ``input_projection`` ``d0 x d_{l-1}``): saved with the model, never trained.

    :param tuple in_shape: the layer's input shape (for the alignment target), or
        ``None`` to drop the alignment term.
    :param tuple shape: the activation's shape.
    :param int num_classes: the number of classes ``C``.
    :param int proj_dim: the number of codes ``d0`` (default ``C``).
    :param noise: ``"multiplicative"``, ``"gaussian"`` or ``"none"``.
    :param float noise_scale: the noise's standard deviation ``s``.
    :param float alignment_weight: ``w``; 0 drops the term.
    :param float temperature: ``T`` of both categorical posteriors.
    :param int pool: spatial pool size for feature maps (activation and input).
    :param readout: ``"table"`` or ``"identity"`` (default: identity when
        ``d0 == C``, else table).
    :param int seed: seeds the fixed projections.
    """

    def __init__(self, in_shape, shape, num_classes: int, proj_dim: int | None = None,
                 noise="multiplicative", noise_scale: float = 0.1,
                 alignment_weight: float = 1.0, temperature: float = 1.0,
                 pool: int | None = None, readout=None, seed: int = 0):
        super().__init__()
        proj_dim = num_classes if proj_dim is None else proj_dim
        if isinstance(proj_dim, bool) or not isinstance(proj_dim, int) or proj_dim < 2:
            raise ValueError(f"proj_dim: expected an int >= 2, got {proj_dim!r}")
        if not noise_scale >= 0 or not alignment_weight >= 0 or not temperature > 0:
            raise ValueError(
                "noise_scale and alignment_weight: expected floats >= 0, temperature > 0; "
                f"got {noise_scale!r}, {alignment_weight!r}, {temperature!r}"
            )
        self.noise = Noise(noise)
        if readout is None:
            readout = Readout.IDENTITY if proj_dim == num_classes else Readout.TABLE
        self.readout = Readout(readout)
        if self.readout is Readout.IDENTITY and proj_dim != num_classes:
            raise ValueError(f"readout='identity' needs proj_dim == num_classes ({num_classes}), "
                             f"got proj_dim={proj_dim}")
        self.pool = check_pool(pool)
        self.noise_scale = float(noise_scale)
        self.alignment_weight = float(alignment_weight)
        self.temperature = float(temperature)
        self.register_buffer("projection", fixed_gaussian(proj_dim, pooled_dim(shape, pool), seed))
        if in_shape is not None and self.alignment_weight > 0:
            d_in = pooled_dim(in_shape, pool)
            self.register_buffer("input_projection",
                                 fixed_gaussian(proj_dim, d_in, seed + _INPUT_PROJECTION_STREAM))
        else:
            self.input_projection = None
        if self.readout is Readout.TABLE:
            self.table = torch.nn.Parameter(torch.zeros(num_classes, proj_dim))

    def code_logits(self, a: torch.Tensor) -> torch.Tensor:
        """``log q_l(k | a)``: log-probabilities of the ``d0`` codes, ``(N, d0)``."""
        return F.log_softmax(pool_features(a, self.pool) @ self.projection.T / self.temperature,
                             dim=-1)

    def input_code_logits(self, h: torch.Tensor) -> torch.Tensor:
        """``log q_{l-1}(k | h)``, the alignment target, from the layer's input."""
        return F.log_softmax(
            pool_features(h, self.pool) @ self.input_projection.T / self.temperature, dim=-1
        )

    def label_log_probs(self, log_q: torch.Tensor) -> torch.Tensor:
        """``log p(y | z) = log sum_k q(k | z) pi(y | k)`` for every class, ``(N, C)``."""
        if self.readout is Readout.IDENTITY:
            return log_q
        log_pi = F.log_softmax(self.table, dim=0)  # pi(y | k): a distribution over y
        return torch.logsumexp(log_q[:, None, :] + log_pi, dim=-1)

    def logits(self, a):
        return self.label_log_probs(self.code_logits(a))

    def sample_activation(self, a: torch.Tensor) -> torch.Tensor:
        """The stochastic activation's site (inside the caller's data plate)."""
        if self.noise is Noise.NONE or self.noise_scale == 0:
            return a
        event = a.dim() - 1
        infer = {"guide_is_prior": True}
        # The arguments are valid by construction; checking them costs as much as
        # drawing the noise on large feature maps.
        if self.noise is Noise.MULTIPLICATIVE:
            noise = dist.Normal(torch.ones_like(a), self.noise_scale, validate_args=False)
            return a * pyro.sample("noise", noise.to_event(event), infer=infer)
        z = dist.Normal(a, self.noise_scale, validate_args=False).to_event(event)
        return pyro.sample("z", z, infer=infer)

    def forward(self, a, y=None, h=None):
        with pyro.plate("data", a.shape[0]):
            z = self.sample_activation(a)
            log_q = self.code_logits(z)
            pyro.sample("y", dist.Categorical(logits=self.label_log_probs(log_q)), obs=y)
            if self.input_projection is not None and h is not None:
                target = self.input_code_logits(h.detach()).detach()
                pyro.factor("align", -self.alignment_weight * bhattacharyya_distance(log_q, target))
        return z


@dataclasses.dataclass(frozen=True)
class SVP:
    """
    The SVP rule: every layer gets an :class:`SVPHead` (its fixed projections seeded
    from the network's seed and the layer's index).

    :param int proj_dim: codes ``d0`` (default: the number of classes).
    :param noise: ``"multiplicative"``, ``"gaussian"`` or ``"none"``.
    :param float noise_scale: the noise's standard deviation.
    :param float alignment_weight: the weight of the alignment term (0: none).
    :param float temperature: the categorical posteriors' temperature.
    :param readout: ``"table"``, ``"identity"`` or ``None`` (automatic).
    """

    proj_dim: int | None = None
    noise: Noise | str = Noise.MULTIPLICATIVE
    noise_scale: float = 0.1
    alignment_weight: float = 1.0
    temperature: float = 1.0
    readout: Readout | str | None = None

    def __post_init__(self):
        coerce_enum_fields(self, {"noise": Noise, "readout": Readout})

    def __call__(self, spec) -> SVPHead:
        return SVPHead(spec.in_shape, spec.out_shape, spec.num_classes, self.proj_dim,
                       self.noise, self.noise_scale, self.alignment_weight, self.temperature,
                       spec.pool, self.readout, seed=spec.seed)


__all__ = ["SVP", "Noise", "Readout", "SVPHead", "bhattacharyya_distance"]
