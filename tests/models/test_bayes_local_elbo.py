"""The Bayesian recipe's per-layer ELBOs against an independent computation.

A tiny ``bayes_mlp`` trained by :func:`~pyro_local.nn.local_net` with linear heads and
matrix-normal weight posteriors (the command line's ``bayes-mlp`` recipe, local
training). Each layer's loss is its weights' KL to the ``N(0, 1)`` prior plus
``num_data / batch`` times the batch's expected negative log-likelihood of the
labels under its head (the last layer: under its own logits). The reference computes
both by hand: the KL of the Gaussian ``vec W ~ N(vec M, V (x) U)`` from its moments,
the expectation by Monte Carlo over whole weight draws with plain torch, the engine's
value by averaging its loss over independent evaluations under local
reparameterization (an unbiased estimator of the same expectation for dense layers).
"""

import math

import pyro
import pytest
import torch

from pyro_local.guides import AutoMatrixNormal
from pyro_local.infer import LocalSVI
from pyro_local.models import bayes_mlp
from pyro_local.nn import GreedyHeads, local_net, local_reparameterization

NUM_DATA, BATCH = 50, 8


def _net():
    pyro.clear_param_store()
    torch.manual_seed(0)
    net = local_net(bayes_mlp(3, [4], 3), GreedyHeads("linear"), num_data=NUM_DATA,
                    guide_builder=AutoMatrixNormal)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(BATCH, 3, generator=g), torch.randint(3, (BATCH,), generator=g)
    return net, x, y


def _posterior(net, layer, x, y):
    """Mean and row/column covariances of layer ``layer``'s weight posterior."""
    trace = pyro.poutine.trace(net.stage_guide(layer)).get_trace(x, y)
    (site,) = [s for s in trace.nodes.values() if s["type"] == "sample"]
    q = site["fn"]
    return q.mean.detach(), q.row_covariance.detach(), q.column_covariance.detach()


def _kl_to_standard_normal(m, u, v):
    # vec W ~ N(vec M, V (x) U): trace, log-determinant and dimension of the Kronecker
    # product from its factors
    n, p = m.shape
    trace = torch.trace(u) * torch.trace(v)
    logdet = p * torch.logdet(u) + n * torch.logdet(v)
    return 0.5 * (trace + m.pow(2).sum() - n * p - logdet)


def _draws(m, u, v, num):
    lu, lv = torch.linalg.cholesky(u), torch.linalg.cholesky(v)
    z = torch.randn(num, *m.shape, dtype=m.dtype)
    return m + lu @ z @ lv.T


def _with_bias(h):
    return torch.cat([h, torch.ones(h.shape[:-1] + (1,), dtype=h.dtype)], -1)


def _log_lik(logits, y):
    """The batch's log-likelihood of ``y`` under each draw's logits ``(S, B, C)``."""
    labels = y.expand(logits.shape[:-1]).unsqueeze(-1)
    return logits.log_softmax(-1).gather(-1, labels).sum((-1, -2))


@pytest.mark.slow
def test_per_layer_losses_match_closed_form_kl_plus_scaled_expected_log_likelihood():
    net, x, y = _net()
    svi = LocalSVI(net, mode="sequential")
    svi.init(x, y)
    num_evals = 400
    with torch.no_grad(), local_reparameterization():
        values = {k: [] for k in svi.layers}
        for _ in range(num_evals):
            for k, v in svi.evaluate(x, y).layer_losses.items():
                values[k].append(v)
    assert list(values) == ["l1", "output"]

    torch.manual_seed(2)
    (m1, u1, v1), (m2, u2, v2) = (_posterior(net, k, x, y) for k in ("l1", "output"))
    m1, u1, v1, m2, u2, v2 = (t.double() for t in (m1, u1, v1, m2, u2, v2))
    head = net.stage_model("l1").head.linear
    w1, w2 = _draws(m1, u1, v1, 20000), _draws(m2, u2, v2, 20000)
    h1 = torch.relu(_with_bias(x.double()) @ w1)                   # (S, B, 4)
    head_logits = h1 @ head.weight.detach().double().T + head.bias.detach().double()
    out_logits = _with_bias(h1) @ w2
    scale = NUM_DATA / BATCH
    per_draw = {"l1": -scale * _log_lik(head_logits, y), "output": -scale * _log_lik(out_logits, y)}
    kls = {"l1": _kl_to_standard_normal(m1, u1, v1), "output": _kl_to_standard_normal(m2, u2, v2)}

    for layer in ("l1", "output"):
        engine = torch.tensor(values[layer], dtype=torch.float64)
        ref = kls[layer] + per_draw[layer].mean()
        se = math.sqrt(engine.var() / num_evals + per_draw[layer].var() / len(per_draw[layer]))
        assert abs(engine.mean() - ref) < 4 * se, (layer, float(engine.mean()), float(ref), se)
        # the KL dominates neither term: a wrong data scale would be far outside
        assert per_draw[layer].mean() > 10 * se
