"""The rectified-Gaussian KL composed of autograd ops (the library's formula before it
became one op with a hand-derived gradient): the general path the fused op is held to."""

import torch

from pyro_local.distributions.truncated_moments import log_ndtr, truncated_normal_moments


def composed_kl(loc_q, scale_q, loc_p, scale_p):
    """``KL(q || p)`` through the truncated moments, every step differentiated by autograd."""
    a_q, a_p = loc_q / scale_q, loc_p / scale_p
    log_q0, log_p0 = log_ndtr(-a_q), log_ndtr(-a_p)
    atom = log_q0.exp() * (log_q0 - log_p0)
    m = truncated_normal_moments(a_q)
    rho = (scale_q - scale_p) / scale_p
    log_r = torch.where(rho.abs() < 0.5, torch.log1p(rho), (scale_q / scale_p).log())
    delta = (loc_q - loc_p) / scale_p
    second_moment = m.var + m.inv_mills**2
    positive = (
        -log_r
        + 0.5 * rho * (rho + 2) * second_moment
        + delta * (0.5 * delta + (1 + rho) * m.inv_mills)
    )
    return atom + m.log_mass.exp() * positive
