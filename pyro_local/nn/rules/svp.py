"""SVP: stochastic layers with local ELBOs on fixed random projections (Yin & Corradi).

Layer ``l`` of a network trained with Stochastic Variational Propagation (v4 of the
paper: "Stochastic Layer-wise Learning") is a latent variable model of its own: the
block computes ``a = f(h)`` from the layer's (cut) input ``h``, and the activation
passed on is a sample ``z ~ p(z | a)`` (multiplicative noise, i.e. Gaussian dropout, or
additive noise around ``a``). Its local ELBO is::

    E_q(z|h)[ log p(y | z) ] - KL(q(z | h) || p(z | h))

SVP takes the variational conditional to be the model's own, ``q(z | h) = p(z | a)``:
the activation site is marked ``guide_is_prior`` and its KL term is exactly zero.

**Fixed random projection.** Every layer owns a FIXED Gaussian matrix ``R_l``
(``d0 x d_l``, drawn once from a seed, never trained) and reads its activation through
it: ``v_l = R_l pool(z)``.

**Expected log-likelihood.** The label's likelihood is read from the projected
features by a learned linear classifier, ``p(y | z) = softmax(W_l v_l + b_l)``
(``readout="linear"``, ``W_l``: ``C x d0``); a single sample of the noise estimates
the expectation. With ``d0 = C`` the projection itself can be the classifier,
``p(y | z) = softmax(v_l / T)`` (``readout="identity"``, the paper's ViT setting): the
layer then learns through the fixed projection alone.

**Alignment in place of the KL.** A direct KL between adjacent layers' activations
collapses the representations (the paper's motivating observation). In its place
stands a Bhattacharyya surrogate between the *auxiliary categorical posteriors* over
the ``d0`` projection directions of the layer and of the layer below::

    q_l(k | z)     = softmax(R_l     pool_l(z) / T)_k
    q_{l-1}(k | h) = softmax(R_{l-1} pool_{l-1}(h) / T)_k

``align = -w * D_B(q_l, q_{l-1})`` per example, with the Bhattacharyya distance
``D_B(p, q) = -log sum_k sqrt(p_k q_k)`` (``2 D_B`` is the Renyi divergence of order
1/2, a lower bound on either KL; unlike a KL it is symmetric and does not explode
where one posterior puts little mass). ``R_{l-1}`` is the layer below's own
projection (rebuilt from its seed; for the first layer, a projection of the data),
so ``q_{l-1}`` is exactly the posterior the layer below computes for its output, which
is this layer's input: the target is computed from the cut input, so nothing flows
down. The paper leaves open which distributions are aligned; we align adjacent
layers (the v1 abstract's "inter-layer consistency").
"""

from __future__ import annotations

import dataclasses
import enum

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F

from ..._checks import check_enum, check_int
from ..features import (
    check_pool,
    coerce_enum_fields,
    fixed_gaussian,
    pool_features,
    pooled_dim,
)
from .heads import LocalHead

#: For a head built without a layer below (``in_seed=None``): the offset between the
#: seeds of its own projection and of its input's.
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
    """How the label's likelihood is read from the projected features ``v = R pool(z)``."""

    #: a learned linear classifier ``softmax(W v + b)`` (``W``: ``C x d0``).
    LINEAR = "linear"
    #: ``softmax(v / T)``: the projection is the classifier; needs ``d0 == num_classes``.
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
    ``input_projection``, the layer below's ``d0 x d_{l-1}``): saved with the model,
    never trained.

    :param tuple in_shape: the layer's input shape (for the alignment target), or
        ``None`` to drop the alignment term.
    :param tuple shape: the activation's shape.
    :param int num_classes: the number of classes ``C``.
    :param int proj_dim: the projection's dimension ``d0`` (default ``C``).
    :param noise: ``"multiplicative"``, ``"gaussian"`` or ``"none"``.
    :param float noise_scale: the noise's standard deviation ``s``.
    :param float alignment_weight: ``w``; 0 drops the term.
    :param float temperature: ``T`` of both categorical posteriors (and of the
        identity readout).
    :param int pool: spatial pool size for feature maps of the activation.
    :param readout: ``"linear"`` or ``"identity"`` (default: identity when
        ``d0 == C``, else linear).
    :param int seed: seeds the layer's projection.
    :param int in_pool: the pool size of the layer below (default ``pool``).
    :param int in_seed: the seed of the layer below, whose projection of the input
        is the alignment target; ``None``: a projection of the input of its own,
        seeded from ``seed``.
    """

    def __init__(self, in_shape, shape, num_classes: int, proj_dim: int | None = None,
                 noise="multiplicative", noise_scale: float = 0.1,
                 alignment_weight: float = 1.0, temperature: float = 1.0,
                 pool: int | None = None, readout=None, seed: int = 0,
                 in_pool: int | None = None, in_seed: int | None = None):
        super().__init__()
        proj_dim = num_classes if proj_dim is None else proj_dim
        check_int(proj_dim, "proj_dim", 2)
        if not noise_scale >= 0 or not alignment_weight >= 0 or not temperature > 0:
            raise ValueError(
                "noise_scale and alignment_weight: expected floats >= 0, temperature > 0; "
                f"got {noise_scale!r}, {alignment_weight!r}, {temperature!r}"
            )
        self.noise = check_enum(Noise, noise, "noise")
        if readout is None:
            readout = Readout.IDENTITY if proj_dim == num_classes else Readout.LINEAR
        self.readout = check_enum(Readout, readout, "readout")
        if self.readout is Readout.IDENTITY and proj_dim != num_classes:
            raise ValueError(f"readout='identity' needs proj_dim == num_classes ({num_classes}), "
                             f"got proj_dim={proj_dim}")
        self.pool = check_pool(pool)
        self.in_pool = self.pool if in_pool is None else check_pool(in_pool)
        self.noise_scale = float(noise_scale)
        self.alignment_weight = float(alignment_weight)
        self.temperature = float(temperature)
        self.register_buffer("projection", fixed_gaussian(proj_dim, pooled_dim(shape, pool), seed))
        if in_shape is not None and self.alignment_weight > 0:
            d_in = pooled_dim(in_shape, self.in_pool)
            in_seed = seed + _INPUT_PROJECTION_STREAM if in_seed is None else in_seed
            self.register_buffer("input_projection", fixed_gaussian(proj_dim, d_in, in_seed))
        else:
            self.input_projection = None
        if self.readout is Readout.LINEAR:
            self.classifier = torch.nn.Linear(proj_dim, num_classes)

    def projected(self, a: torch.Tensor) -> torch.Tensor:
        """``v = R pool(a)``: the activation in the fixed projection, ``(N, d0)``."""
        return pool_features(a, self.pool) @ self.projection.T

    def code_log_probs(self, v: torch.Tensor) -> torch.Tensor:
        """``log q_l(k | z)`` from the projected features, ``(N, d0)``."""
        return F.log_softmax(v / self.temperature, dim=-1)

    def input_code_log_probs(self, h: torch.Tensor) -> torch.Tensor:
        """``log q_{l-1}(k | h)``, the alignment target: the layer below's posterior."""
        return F.log_softmax(
            pool_features(h, self.in_pool) @ self.input_projection.T / self.temperature, dim=-1
        )

    def label_logits(self, v: torch.Tensor) -> torch.Tensor:
        """The logits of ``p(y | z)`` from the projected features, ``(N, C)``."""
        if self.readout is Readout.IDENTITY:
            return v / self.temperature
        return self.classifier(v)

    def logits(self, a):
        return self.label_logits(self.projected(a))

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
            v = self.projected(z)
            pyro.sample("y", dist.Categorical(logits=self.label_logits(v)), obs=y)
            if self.input_projection is not None and h is not None:
                with torch.no_grad():
                    target = self.input_code_log_probs(h)
                align = bhattacharyya_distance(self.code_log_probs(v), target)
                pyro.factor("align", -self.alignment_weight * align)
        return z


@dataclasses.dataclass(frozen=True)
class SVP:
    """
    The SVP rule: every layer gets an ``SVPHead`` (its fixed projection seeded
    from the network's seed and the layer's index; its alignment target read through
    the projection of the layer below).

    :param int proj_dim: the projection's dimension ``d0`` (default 512, read by a
        learned linear classifier: the paper's range, the best setting measured on an
        MLP and on SmallConv, docs/results.md section 3; ``None``: the number of
        classes, read directly, SVP's setting for ViTs).
    :param noise: ``"multiplicative"``, ``"gaussian"`` or ``"none"``.
    :param float noise_scale: the noise's standard deviation.
    :param float alignment_weight: the weight of the alignment term (0: none).
    :param float temperature: the categorical posteriors' temperature.
    :param readout: ``"linear"``, ``"identity"`` or ``None`` (identity when ``d0 == C``).
    """

    proj_dim: int | None = 512
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
                       spec.pool, self.readout, seed=spec.seed, in_pool=spec.in_pool,
                       in_seed=spec.in_seed)


__all__ = ["SVP", "Noise", "Readout", "SVPHead", "bhattacharyya_distance"]
