"""The structured guide of a rectified-Gaussian hierarchy: bottom-up pass, top-down sampling."""

from __future__ import annotations

from .bottom_up import BottomUpGuide


def precision_weighted(loc_a, scale_a, loc_b, scale_b):
    """
    The normal proportional to ``N(loc_a, scale_a^2) * N(loc_b, scale_b^2)``:
    precisions add and locations are averaged with precision weights::

        1 / scale^2 = 1 / scale_a^2 + 1 / scale_b^2
        loc = scale^2 (loc_a / scale_a^2 + loc_b / scale_b^2)

    computed from variances (``scale^2 = va vb / (va + vb)``), which stays finite for
    any positive scales.

    :returns: ``(loc, scale)``, broadcast.
    """
    var_a, var_b = scale_a**2, scale_b**2
    total = var_a + var_b
    loc = (loc_a * var_b + loc_b * var_a) / total
    scale = (var_a * var_b / total).sqrt()
    return loc, scale


class StructuredRectifiedGuide(BottomUpGuide):
    """
    A variational posterior for :class:`~pyro_local.models.RectifiedHierarchy` that
    keeps the model's dependencies: a deterministic bottom-up pass over ``x``
    (its ``encoder``), then sampling from the top layer down, in the
    generative order, with every conditional a rectified Gaussian::

        q(z_l | z_{l+1}, x) = RectifiedNormal(loc_q, scale_q)
        (loc_q, scale_q) = precision_weighted(prior(z_{l+1}), encoder_l(x))

    **The combination, and why.** The prior conditional ``p(z_l | z_{l+1})`` is a
    rectified normal with underlying normal ``N(loc_p, scale_p^2)`` computed by the
    model's own top-down network from the sampled layer above; the bottom-up pass gives
    a normal factor ``N(loc_e, scale_e^2)`` per unit. The guide multiplies the two
    normals *before rectification* (precision weighting, as in ladder VAEs,
    Sønderby et al., 2016) and rectifies the product. Reasons:

    - It is the exact posterior of the underlying ``y_l`` when the data's evidence
      about ``y_l`` is a Gaussian factor, and an approximate update of the prior
      otherwise; the top-down state enters through the model's own network, so
      ``q`` inherits the model's dependency structure (the point of the structured
      guide) and adds parameters only for the bottom-up pass.
    - Where the data is uninformative (``scale_e`` large) ``q`` falls back to the
      prior conditional and that unit's KL is zero: a unit is free to follow the
      layer above rather than being pushed to a fixed marginal, which is what lets
      the upper layers of a deep hierarchy stay in use when trained jointly.
    - Combining the underlying normals keeps ``q`` in the prior's family, rectified
      Gaussians with the same base measure (atom at zero plus Lebesgue measure), so
      the closed-form KL of two rectified Gaussians (registered with
      ``torch.distributions.kl_divergence``) applies at every layer.
    - ``scale_q <= min(scale_p, scale_e)``, and the combination is smooth in
      ``z_{l+1}``, so the KL conditional on the sampled layer above is continuous
      in the reparameterization noise and its pathwise gradient is unbiased.

    Caveat: the evidence about a unit that is off (``z = 0``) does not depend on how
    far below zero ``y`` lies, so the true posterior of ``y`` is not normal there; the
    rectified-normal family is an approximation, as it is for the mean-field guide.
    Concatenating ``[h_l, z_{l+1}]`` into a network that outputs ``(loc_q,
    scale_q)`` directly would be the more flexible alternative, at the price of extra
    parameters and of losing the prior fallback.

    The guide reads the model's top-down networks but does not own them (they are not
    submodules): optimise ``model`` and guide together, e.g.
    ``LocalSVI(model, guide, strict=False)``.

    :param RectifiedHierarchy model: the model.
    :param hidden_dims: widths of the bottom-up pass, from the data up (default the
        model's ``hidden_dims``).
    :param activation: activation module class of the bottom-up pass.
    :param bool batch_norm: batch-normalise the bottom-up pass (default ``True``; the
        encoder follows the guide's ``train()`` and ``eval()`` modes).
    :param float min_scale: lower bound on the encoder factors' scales.
    """

    def posterior_params(self, l, factor, z_above):
        """The prior conditional given the layer above, times the encoder's factor."""
        loc_p, scale_p = self.model.prior_params(l, z_above)
        return precision_weighted(loc_p, scale_p, *factor)
