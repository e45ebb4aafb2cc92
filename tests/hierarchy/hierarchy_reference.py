"""Quadrature references for a two-layer, one-unit-per-layer rectified hierarchy.

With one unit per latent layer the ELBO and the marginal likelihood of an image are
double integrals over ``(z2, z1)``. Each rectified-normal expectation is split into
its atom at zero and a Gauss-Legendre rule over ``z > 0`` (the integrands are smooth
there; the window of +-12 scales around the location holds all but ~1e-32 of the
mass). Only the networks' outputs come from the library; densities, atoms and the
precision-weighted combination are recomputed here with scipy, independently of
``pyro_local.distributions``.
"""

import numpy as np
import torch
from scipy.special import log_ndtr
from scipy.stats import norm

NODES, WEIGHTS = np.polynomial.legendre.leggauss(96)
WINDOW = 12.0


def _rule(loc, scale):
    """
    Quadrature over a rectified normal: values ``z`` (atom first) and weights, with
    the log-density of each value, for arrays ``loc``, ``scale`` of shape (n,).

    :returns: ``z, w, log_q`` of shape (n, 1 + len(NODES)); ``sum(w * f(z))``
        approximates ``E[f(z)]``.
    """
    lo = np.maximum(loc - WINDOW * scale, 0.0)
    hi = np.maximum(loc + WINDOW * scale, 0.0)
    half = 0.5 * (hi - lo)[:, None]
    z_pos = 0.5 * (hi + lo)[:, None] + half * NODES
    log_pdf = norm.logpdf(z_pos, loc[:, None], scale[:, None])
    w_pos = half * WEIGHTS * np.exp(log_pdf)
    log_atom = log_ndtr(-loc / scale)[:, None]
    z = np.concatenate([np.zeros_like(log_atom), z_pos], axis=1)
    w = np.concatenate([np.exp(log_atom), w_pos], axis=1)
    log_q = np.concatenate([log_atom, log_pdf], axis=1)
    return z, w, log_q


def _log_rectified(z, loc, scale):
    """Log-density of a rectified normal w.r.t. atom + Lebesgue (scipy only)."""
    return np.where(z > 0, norm.logpdf(z, loc, scale), log_ndtr(-loc / scale))


def _combine(loc_p, scale_p, loc_e, scale_e):
    prec = scale_p**-2 + scale_e**-2
    return (loc_p * scale_p**-2 + loc_e * scale_e**-2) / prec, prec**-0.5


def _np(t):
    return t.detach().double().numpy()


def _net(module, z):
    with torch.no_grad():
        out = module(torch.as_tensor(z, dtype=torch.float64).reshape(-1, 1))
    return out


def _pieces(model, guide, x):
    """Quadrature nodes and log-terms of the structured guide and the model for image x."""
    with torch.no_grad():
        (loc_e1, scale_e1), (loc_e2, scale_e2) = guide.encoder(x[None].double())
    loc_e1, scale_e1, loc_e2, scale_e2 = (
        _np(t).ravel() for t in (loc_e1, scale_e1, loc_e2, scale_e2)
    )
    top_loc, top_scale = _np(model.top_loc), _np(model.top_scale)
    loc_q2, scale_q2 = _combine(top_loc, top_scale, loc_e2, scale_e2)
    z2, w2, log_q2 = _rule(loc_q2, scale_q2)  # (1, m)
    log_p2 = _log_rectified(z2, top_loc, top_scale)
    loc_p1, scale_p1 = (_np(t).ravel() for t in _net(model.top_down[0], z2.ravel()))
    loc_q1, scale_q1 = _combine(loc_p1, scale_p1, loc_e1, scale_e1)
    z1, w1, log_q1 = _rule(loc_q1, scale_q1)  # (m, m)
    log_p1 = _log_rectified(z1, loc_p1[:, None], scale_p1[:, None])
    logits = _np(_net(model.decoder, z1.ravel())).reshape(*z1.shape, -1)
    xs = _np(x)
    log_lik = (xs * logits - np.logaddexp(0.0, logits)).sum(-1)
    return {
        "w2": w2[0], "log_p2": log_p2[0], "log_q2": log_q2[0], "q2_atom": w2[0, 0],
        "w1": w1, "log_p1": log_p1, "log_q1": log_q1, "q1_atom": w1[:, 0],
        "log_lik": log_lik,
    }


def elbo_terms(model, guide, x):
    """
    The ELBO of image ``x`` by quadrature, split as the library reports it.

    :returns: dict with ``"x"`` (expected log-likelihood), ``"z1"`` (minus the expected
        KL of layer 1 given z2), ``"z2"`` (minus the KL of the top layer), ``"elbo"``,
        and the atoms' probabilities ``"q2_atom"`` and ``"q1_atom_mean"`` (under q).
    """
    t = _pieces(model, guide, x)
    inner_lik = (t["w1"] * t["log_lik"]).sum(1)
    inner_kl = (t["w1"] * (t["log_q1"] - t["log_p1"])).sum(1)
    terms = {
        "x": float((t["w2"] * inner_lik).sum()),
        "z1": float(-(t["w2"] * inner_kl).sum()),
        "z2": float(-(t["w2"] * (t["log_q2"] - t["log_p2"])).sum()),
        "q2_atom": float(t["q2_atom"]),
        "q1_atom_mean": float((t["w2"] * t["q1_atom"]).sum()),
    }
    terms["elbo"] = terms["x"] + terms["z1"] + terms["z2"]
    return terms


def log_marginal(model, guide, x):
    """``log p(x)`` by quadrature, with the guide's nodes as integration grid.

    ``p(x) = E_q[p(x, z) / q(z)]`` integrated exactly by the same rule (the importance
    ratio is smooth on each piece), so no separate grid for the prior is needed.
    """
    t = _pieces(model, guide, x)
    log_ratio = (
        t["log_lik"] + t["log_p1"] - t["log_q1"] + (t["log_p2"] - t["log_q2"])[:, None]
    )
    with np.errstate(divide="ignore"):
        log_w = np.log(t["w2"])[:, None] + np.log(t["w1"])
    return float(np.logaddexp.reduce((log_w + log_ratio).ravel()))
