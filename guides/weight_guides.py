"""Autoguides with a structured posterior on every weight matrix of a model."""

from __future__ import annotations

import operator
from contextlib import ExitStack

import pyro
import torch
from pyro.infer.autoguide import AutoGuide
from pyro.infer.autoguide.utils import deep_setattr
from pyro.infer.util import is_validation_enabled
from pyro.nn import PyroModule
from torch.distributions import constraints

from pyro_local.infer.traces import guide_is_prior
from pyro_local.nn import local_reparameterization
from pyro_local.nn.deferred import BIAS_ROW, LOCAL_REPARAM, WEIGHT_SCALE

from .posteriors import (
    DEFAULT_INIT,
    InitScales,
    MatrixNormalPosterior,
    MeanFieldPosterior,
    NormalPosterior,
    structures,
)


def _is_real(support):
    while isinstance(support, constraints.independent):
        support = support.base_constraint
    return support is constraints.real


def is_weight_site(site) -> bool:
    """A latent real-valued matrix (event dimension 2) outside every plate."""
    fn = site["fn"]
    return fn.event_dim == 2 and not fn.batch_shape and _is_real(fn.support)


class AutoWeightGuide(AutoGuide):
    """
    Base class of autoguides that give every weight-matrix site of a model (a real
    latent with event dimension 2 outside every plate: the ``"weight"`` sites of
    :class:`~pyro_local.nn.BayesLinear` and :class:`~pyro_local.nn.BayesConv2d`,
    conv kernels already in their ``(C kh kw [+1]) x p`` layout) a structured
    posterior from :meth:`weight_posterior`, and every other real latent site a
    ``Normal(loc, scale).to_event(event_dim)``.

    Each site's distribution is sampled directly (no auxiliary site), so the ELBO
    takes its KL to the prior in closed form wherever one is registered with torch:
    :class:`~pyro_local.infer.LocalELBO` and Pyro's ``TraceMeanField_ELBO`` do.
    Weight sites that the model marks ``infer={"local_reparam": True}`` keep the
    mark, so that :func:`~pyro_local.nn.local_reparameterization` may defer
    their sampling.

    Parameters live in the guide's modules (one posterior module per site), so the
    guide works with Pyro's param store and with module-local parameters
    (:class:`~pyro_local.infer.LocalSVI`).

    By default every weight posterior starts at PyTorch's initialisation of the layer
    with a little noise (the default :class:`~pyro_local.guides.InitScales`), relative
    to the weight's unit that the layers give (``infer["weight_scale"]``, 1 for other
    sites); ``init_scales=PAPER_INIT`` is Louizos & Welling's.

    :param callable model: a Pyro model.
    :param InitScales init_scales: the initialisation of weight posteriors.
    :param callable init_loc_fn: optional Pyro init function (e.g. ``init_to_median``)
        for the posterior means of all sites; by default weight means start as
        ``init_scales.loc`` says and other sites at 0.
    :param float init_scale: initial standard deviation of the other sites.
    :param callable create_plates: as for Pyro's autoguides.
    """

    def __init__(
        self,
        model,
        *,
        init_scales=DEFAULT_INIT,
        init_loc_fn=None,
        init_scale=0.01,
        create_plates=None,
    ):
        if not isinstance(init_scales, InitScales):
            raise TypeError(f"init_scales: expected an InitScales, got {init_scales!r}")
        init_scales.check()
        if not init_scale > 0:
            raise ValueError(f"init_scale: expected a positive float, got {init_scale!r}")
        self.init_scales = init_scales
        self.init_loc_fn = init_loc_fn
        self.init_scale = float(init_scale)
        # The prototype trace runs under the local reparameterization handler, so that
        # layers that need a deferred weight (pseudo-data) run; initial values then
        # come from calling init_loc_fn on the sites, not from an InitMessenger.
        super().__init__(local_reparameterization(model), create_plates=create_plates)

    def weight_posterior(self, name, site, loc) -> PyroModule:
        """The posterior module of weight site ``name`` (``loc``: initial mean, or
        ``None`` for ``init_scales.loc``'s); subclasses define it."""
        raise NotImplementedError

    def _setup_prototype(self, *args, **kwargs):
        super()._setup_prototype(*args, **kwargs)
        self.posteriors = PyroModule()
        self._weight_sites = set()
        for name, site in self._guided_sites():
            value = site["value"].detach()
            init = None
            if self.init_loc_fn is not None:
                with torch.no_grad():
                    init = self.init_loc_fn(site).detach().clone().to(value)
            if is_weight_site(site):
                module = self.weight_posterior(name, site, init)
                self._weight_sites.add(name)
            elif _is_real(site["fn"].support):
                loc = torch.zeros_like(value) if init is None else init
                for frame in site["cond_indep_stack"]:
                    full_size = frame.full_size or frame.size
                    if full_size != frame.size:
                        raise NotImplementedError(
                            f"site {name!r}: {type(self).__name__} does not support "
                            "subsampled local latents; use AutoNormal for those sites"
                        )
                module = NormalPosterior(loc, self.init_scale, site["fn"].event_dim)
            else:
                raise TypeError(
                    f"site {name!r}: {type(self).__name__} handles real-valued sites, got "
                    f"support {site['fn'].support}; combine guides with AutoGuideList"
                )
            deep_setattr(self.posteriors, name, module.to(value))
        # What forward needs from the prototype trace is static: kept, not recomputed.
        self._sites = []
        for name, site in self._guided_sites():
            infer = {}
            if name in self._weight_sites and site["infer"].get(LOCAL_REPARAM):
                infer = {LOCAL_REPARAM: True}
            self._sites.append((name, site, operator.attrgetter(name)(self.posteriors), infer))
        # Plates are made only when a guided site sits in one: making a plate records
        # its subsample site, which would then fix the model's batch size on replay.
        self._needs_plates = any(
            f.vectorized for _, s, _, _ in self._sites for f in s["cond_indep_stack"]
        )
        self._posteriors_checked = False

    def forward(self, *args, **kwargs):
        """Samples every latent site of the model; returns ``{name: value}``."""
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        plates = self._create_plates(*args, **kwargs) if self._needs_plates else {}
        # Under Pyro's validation each posterior's parameters are checked on the first
        # step: they come from constrained parameters, valid by construction, so later
        # checks would only scan weight-sized tensors for a NaN, which the ELBO's own
        # non-finite check names by site.
        validate = False if self._posteriors_checked else None
        result = {}
        for name, site, module, infer in self._sites:
            posterior = module.distribution(validate_args=validate)
            with ExitStack() as stack:
                for frame in site["cond_indep_stack"]:
                    if frame.vectorized:
                        stack.enter_context(plates[frame.name])
                result[name] = pyro.sample(name, posterior, infer=dict(infer))
        self._posteriors_checked = self._posteriors_checked or is_validation_enabled()
        return result

    @torch.no_grad()
    def median(self, *args, **kwargs):
        """The posterior mean (= median) of every latent site."""
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        return {
            name: operator.attrgetter(name)(self.posteriors).distribution().mean.detach().clone()
            for name, _ in self._guided_sites()
        }

    def _guided_sites(self):
        # Sites marked guide_is_prior (e.g. SVP's stochastic activations) are drawn
        # from the model's own distribution by the engine; a learned posterior there
        # would be per data point and tied to the batch it first saw.
        for name, site in self.prototype_trace.iter_stochastic_nodes():
            if not guide_is_prior(site):
                yield name, site


class AutoMatrixNormal(AutoWeightGuide):
    """
    A matrix-normal posterior ``MN(M, U, V)`` on every weight matrix (Louizos &
    Welling 2016), a Normal on the other latent sites; see :class:`AutoWeightGuide`.

    Example::

        model = BayesianMLP(784, [150, 150], 10, num_data=60000)
        guide = AutoMatrixNormal(model)                      # diagonal U, V (the paper's)
        guide = AutoMatrixNormal(model, structure="low_rank", rank=4)
        guide = AutoMatrixNormal(model, structure=("dense", "diagonal"))
        svi = SVI(model, guide, Adam({"lr": 1e-3}), TraceMeanField_ELBO())
        with local_reparameterization():
            svi.step(x, y)

    :param callable model: a Pyro model.
    :param structure: the structure of ``U`` and
        ``V`` (``"diagonal"``, ``"low_rank"``, ``"dense"``), or a ``(row, column)`` pair.
    :param int rank: rank of low-rank factors.
    :param kwargs: see :class:`AutoWeightGuide`.
    """

    def __init__(self, model, *, structure="diagonal", rank=1, **kwargs):
        self.structure = structures(structure)
        self.rank = rank
        super().__init__(model, **kwargs)

    def weight_posterior(self, name, site, loc):
        rows, columns = site["fn"].event_shape
        return MatrixNormalPosterior(
            rows,
            columns,
            site["infer"].get(BIAS_ROW, False),
            self.structure,
            self.rank,
            self.init_scales,
            loc,
            site["infer"].get(WEIGHT_SCALE, 1.0),
        )


class AutoMeanFieldNormal(AutoWeightGuide):
    """
    A mean-field Normal ``Normal(loc, scale).to_event(2)`` on every weight matrix,
    sampled directly so that its KL is closed-form (unlike Pyro's ``AutoNormal``,
    whose auxiliary site forces a Monte Carlo KL), and local reparameterization
    works. It starts from the same distribution as a diagonal
    :class:`AutoMatrixNormal`; see :class:`AutoWeightGuide`.
    """

    def weight_posterior(self, name, site, loc):
        rows, columns = site["fn"].event_shape
        return MeanFieldPosterior(
            rows,
            columns,
            site["infer"].get(BIAS_ROW, False),
            self.init_scales,
            loc,
            site["infer"].get(WEIGHT_SCALE, 1.0),
        )
