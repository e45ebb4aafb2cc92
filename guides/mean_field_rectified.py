"""The mean-field (bottom-up only) guide of a rectified-Gaussian hierarchy."""

from __future__ import annotations

from .bottom_up import BottomUpGuide


class MeanFieldRectifiedGuide(BottomUpGuide):
    """
    ``q(z_1, ..., z_L | x) = prod_l RectifiedNormal(encoder_l(x))``: every latent layer
    read off the bottom-up pass over ``x`` alone, independent of the layers above (the
    usual amortized mean-field posterior of a deep latent-variable model). The baseline
    against which :class:`StructuredRectifiedGuide` is compared: same model, same
    bottom-up network, no top-down dependencies.

    :param RectifiedHierarchy model: the model.
    :param hidden_dims: widths of the bottom-up pass (default the model's).
    :param activation: activation module class.
    :param bool batch_norm: batch-normalise the bottom-up pass (default ``True``).
    :param float min_scale: lower bound on the posterior scales.
    """

    def posterior_params(self, l, factor, z_above):
        """The encoder's factor alone: no dependence on the layer above."""
        return factor
