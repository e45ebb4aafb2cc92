"""Each local objective's value against a hand computation (NumPy) on a tiny example."""

import numpy as np
import pyro
import pytest
import torch
from pyro import poutine

from pyro_local.infer import LocalSVI
from pyro_local.nn import LLS, SVP, ContSup, GreedyHeads, local_net
from pyro_local.nn.features import fixed_gaussian
from pyro_local.nn.rules.heads import LinearHead
from pyro_local.nn.rules.lls import LLSHead, lls_basis
from pyro_local.nn.rules.local_layer import LayerSpec
from pyro_local.nn.rules.svp import SVPHead, bhattacharyya_distance

from .nets import NUM_CLASSES, images, tiny_conv, tiny_mlp, vectors


def np_(t):
    return t.detach().double().numpy()


def log_softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def logsumexp(z, axis=-1):
    m = z.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def pool(a, p):
    """Adaptive average pooling of (N, C, H, W) to p x p when p divides H and W."""
    n, c, h, w = a.shape
    return a.reshape(n, c, p, h // p, p, w // p).mean((3, 5)).reshape(n, -1)


def head_loss(head, a, y, h=None):
    """Minus the head's local ELBO, through the engine's per-layer ELBO."""
    svi = LocalSVI(_Layer(head))
    return float(svi.loss.layer_losses(svi.model, None, a, y, h)["head"].detach())


class _Layer(torch.nn.Module):
    """A plain model whose only layer is the head (so LocalSVI sees its sites)."""

    def __init__(self, head):
        super().__init__()
        self.head = head

    def forward(self, a, y, h=None):
        from pyro_local.poutine import layer

        with layer("head"):
            return self.head(a, y, h)


def test_lls_basis_is_the_formula():
    b = lls_basis(4, 9)
    f = np.linspace(50, 512, 4)
    expected = np.sin(f[:, None] * np.arange(9))
    np.testing.assert_allclose(np_(b), expected, atol=1e-6)
    np.testing.assert_array_equal(np_(lls_basis(4, 9, "square")), np.sign(expected))


@pytest.mark.parametrize("variant", ["plain", "m", "mxm"])
def test_lls_loss_by_hand(variant):
    torch.manual_seed(0)
    a = torch.randn(5, 2, 4, 4)
    y = torch.tensor([0, 2, 1, 1, 0])
    head = LLSHead((2, 4, 4), 3, pool=2, waveform="square", temperature=0.5, variant=variant)
    z = pool(np_(a), 2)
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    basis = np.sign(np.sin(np.linspace(50, 512, 3)[:, None] * np.arange(8)))
    scores = z @ basis.T
    if variant == "m":
        scores = scores * np_(head.scale)
    elif variant == "mxm":
        scores = scores @ np_(head.mixing)
    expected = -log_softmax(scores / 0.5)[np.arange(5), np_(y).astype(int)].sum()
    assert head_loss(head, a, y) == pytest.approx(expected, rel=1e-5)


def test_linear_head_loss_by_hand():
    torch.manual_seed(0)
    a = torch.randn(4, 3, 4, 4)
    y = torch.tensor([0, 1, 2, 1])
    head = LinearHead((3, 4, 4), 3, pool=2)
    logits = pool(np_(a), 2) @ np_(head.linear.weight).T + np_(head.linear.bias)
    expected = -log_softmax(logits)[np.arange(4), np_(y).astype(int)].sum()
    assert head_loss(head, a, y) == pytest.approx(expected, rel=1e-5)


def test_bhattacharyya_distance():
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(6, 5, generator=g, dtype=torch.float64), -1)
    q = torch.softmax(torch.randn(6, 5, generator=g, dtype=torch.float64), -1)
    d = bhattacharyya_distance(p.log(), q.log())
    expected = -np.log(np.sqrt(np_(p) * np_(q)).sum(-1))
    np.testing.assert_allclose(np_(d), expected, rtol=1e-12)
    torch.testing.assert_close(d, bhattacharyya_distance(q.log(), p.log()))
    zero = bhattacharyya_distance(p.log(), p.log())
    torch.testing.assert_close(zero, torch.zeros(6, dtype=p.dtype), atol=1e-12, rtol=0)


@pytest.mark.parametrize("readout", ["linear", "identity"])
def test_svp_loss_by_hand_without_noise(readout):
    torch.manual_seed(0)
    n, c = 5, NUM_CLASSES
    a, h = torch.randn(n, 2, 4, 4), torch.randn(n, 1, 4, 4)
    y = torch.tensor([0, 2, 1, 1, 0])
    d0 = 7 if readout == "linear" else c
    head = SVPHead((1, 4, 4), (2, 4, 4), c, proj_dim=d0, noise="none", alignment_weight=0.3,
                   temperature=2.0, pool=2, readout=readout, seed=5, in_pool=1, in_seed=9)
    v = pool(np_(a), 2) @ np_(head.projection).T
    log_q = log_softmax(v / 2.0)
    log_t = log_softmax(pool(np_(h), 1) @ np_(head.input_projection).T / 2.0)
    if readout == "linear":
        logits = v @ np_(head.classifier.weight).T + np_(head.classifier.bias)
    else:
        logits = v / 2.0
    loglik = log_softmax(logits)[np.arange(n), np_(y).astype(int)].sum()
    d_b = -np.log(np.exp(0.5 * (log_q + log_t)).sum(-1))
    expected = -(loglik - 0.3 * d_b.sum())
    assert head_loss(head, a, y, h) == pytest.approx(expected, rel=1e-5)


def test_svp_projections_are_fixed_gaussians_of_the_seed():
    head = SVPHead((8,), (6,), 3, proj_dim=4, seed=11, in_seed=3)
    again = SVPHead((8,), (6,), 3, proj_dim=4, seed=11, in_seed=3)
    other = SVPHead((8,), (6,), 3, proj_dim=4, seed=12, in_seed=3)
    torch.testing.assert_close(head.projection, again.projection, rtol=0, atol=0)
    assert not torch.equal(head.projection, other.projection)
    assert head.projection.shape == (4, 6) and head.input_projection.shape == (4, 8)
    torch.testing.assert_close(head.input_projection, fixed_gaussian(4, 8, 3), rtol=0, atol=0)


@pytest.mark.parametrize("network", ["conv", "mlp"])
def test_svp_aligns_each_layer_with_the_posterior_of_the_layer_below(network):
    # The target q_{l-1} is the categorical posterior that layer l-1 itself computes
    # for its output (this layer's input): the same fixed matrix, the same pooling.
    # The first layer's target is a projection of the data, seeded by the network's seed.
    x = images()[0] if network == "conv" else vectors()[0]
    stack = tiny_conv() if network == "conv" else tiny_mlp()
    net = local_net(stack, SVP(proj_dim=5, noise="none"), seed=4)
    heads = [net.stage_model(name).head for name in stack.names]
    net.eval()
    with torch.no_grad():
        h, below = x, None
        for name, head in zip(stack.names, heads):
            if below is not None:
                torch.testing.assert_close(head.input_projection, below.projection, rtol=0,
                                           atol=0)
                torch.testing.assert_close(head.input_code_log_probs(h),
                                           below.code_log_probs(below.projected(h)))
            below, h = head, stack.blocks[name](h)
    first = heads[0]
    torch.testing.assert_close(first.input_projection,
                               fixed_gaussian(5, first.input_projection.shape[1], 4), rtol=0,
                               atol=0)


def test_svp_linear_readout_reads_the_projected_features():
    # The likelihood is read from v = R pool(z) by a learned linear map: with d0 >= the
    # features' dimension it can fit any linear classifier of the activation.
    head = SVPHead(None, (6,), 3, proj_dim=12, noise="none")
    assert head.readout.value == "linear" and head.classifier.weight.shape == (3, 12)
    a = torch.randn(4, 6)
    torch.testing.assert_close(head.logits(a), head.classifier(a @ head.projection.T))


@pytest.mark.parametrize("noise", ["multiplicative", "gaussian"])
def test_svp_noise_is_a_prior_latent_and_the_loss_uses_its_sample(noise):
    torch.manual_seed(0)
    a, y = torch.randn(4, 6), torch.tensor([0, 1, 2, 0])
    head = SVPHead(None, (6,), 3, noise=noise, noise_scale=0.5, alignment_weight=0.0)
    trace = poutine.trace(head).get_trace(a, y)
    site = trace.nodes["noise" if noise == "multiplicative" else "z"]
    assert site["infer"]["guide_is_prior"] and not site["is_observed"]
    z = a * site["value"] if noise == "multiplicative" else site["value"]
    torch.testing.assert_close(trace.nodes["_RETURN"]["value"], z)
    assert not torch.equal(z, a)
    log_q = log_softmax(np_(z) @ np_(head.projection).T)
    expected = log_q[np.arange(4), np_(y).astype(int)]
    np.testing.assert_allclose(np_(trace.nodes["y"]["fn"].log_prob(y)), expected, rtol=1e-5)


def test_svp_noise_scale_matches_its_distribution():
    # The multiplicative noise has mean 1 and standard deviation s; 4 standard errors.
    torch.manual_seed(0)
    a = torch.ones(2000, 50)
    head = SVPHead(None, (50,), 3, noise_scale=0.3, alignment_weight=0.0)
    z = head(a, None)
    n = z.numel()
    assert abs(z.mean().item() - 1.0) < 4 * 0.3 / n**0.5
    # The sample standard deviation's standard error is about s / sqrt(2n).
    assert abs(z.std().item() - 0.3) < 4 * 0.3 / (2 * n) ** 0.5


def _np_bn_relu(x, w, b):
    z = x @ w.T + b
    z = (z - z.mean(0)) / np.sqrt(z.var(0) + 1e-5)  # train-mode batch norm, unit affine
    return np.maximum(z, 0)


def test_contsup_loss_by_hand():
    # ContSup[E] on an MLP: the second layer's input is cut(b1) + E(x), with E and the
    # block both linear - BN - ReLU; its loss is its linear head's cross-entropy.
    x, y = vectors()
    stack = tiny_mlp(hidden=(6, 5))
    net = local_net(stack, GreedyHeads(), ContSup(input=True))
    losses = LocalSVI(net).layer_losses(x, y)
    l1, l2 = net.fc1, net.fc2
    p = {k: np_(v) for k, v in net.named_parameters()}
    b1 = _np_bn_relu(np_(x), p["fc1.block.0.weight"], p["fc1.block.0.bias"])
    enc = _np_bn_relu(np_(x), p["fc2.context.input_encoder.net.0.weight"],
                      p["fc2.context.input_encoder.net.0.bias"])
    h2 = b1 + enc
    b2 = _np_bn_relu(h2, p["fc2.block.0.weight"], p["fc2.block.0.bias"])
    logits = b2 @ p["fc2.head.linear.weight"].T + p["fc2.head.linear.bias"]
    yi = np_(y).astype(int)
    expected = -log_softmax(logits)[np.arange(6), yi].sum()
    assert float(losses["fc2"].detach()) == pytest.approx(expected, rel=1e-5)
    # The output layer reads cut(b2) + E'(x), with its own encoder.
    enc3 = _np_bn_relu(np_(x), p["output.context.input_encoder.net.0.weight"],
                       p["output.context.input_encoder.net.0.bias"])
    logits3 = (b2 + enc3) @ p["output.classifier.weight"].T + p["output.classifier.bias"]
    assert float(losses["output"].detach()) == pytest.approx(
        -log_softmax(logits3)[np.arange(6), yi].sum(), rel=1e-5)
    assert l1.context is None and l2.context.input_encoder is not None


def test_contsup_residual_reads_the_previous_module_input():
    # ContSup[R1]: module k's input is cut(b_{k-1}) + R(cut(input of module k-1)).
    x, y = vectors()
    net = local_net(tiny_mlp(hidden=(5, 5, 5)), GreedyHeads(), ContSup(input=False, residual=1))
    net.eval()  # batch norm from running statistics: each call below is then pure
    with torch.no_grad():
        b1 = net.fc1.block(x)
        h2 = b1 + net.fc2.context.residual_encoders[0](x)   # module 1's input is x
        b2 = net.fc2.block(h2)
        h3 = b2 + net.fc3.context.residual_encoders[0](h2)
        state = net.fc2(net.fc1(x))
    torch.testing.assert_close(state.h, b2)
    torch.testing.assert_close(state.inputs[-1], h2)
    with torch.no_grad():
        torch.testing.assert_close(net.fc3.context(state), h3)


def test_output_layer_is_the_classifier_cross_entropy():
    x, y = images()
    stack = tiny_conv()
    net = local_net(stack, LLS())
    pyro.set_rng_seed(0)
    losses = LocalSVI(net).layer_losses(x, y)
    with torch.no_grad():
        h = x
        for block in stack.blocks.values():
            h = block(h)
        logits = stack.classifier(h)
    expected = torch.nn.functional.cross_entropy(logits, y, reduction="sum")
    assert float(losses["output"].detach()) == pytest.approx(float(expected), rel=1e-5)


def test_svp_rule_default_is_a_learned_readout_of_512_codes():
    head = SVP()(LayerSpec("l", 0, (4,), (6,), None, 3, 0))
    assert head.projection.shape == (512, 6) and hasattr(head, "classifier")


def test_svp_rule_without_proj_dim_is_identity_readout_with_c_codes():
    head = SVP(proj_dim=None)(LayerSpec("l", 0, (4,), (6,), None, 3, 0))
    assert head.projection.shape == (3, 6) and not hasattr(head, "classifier")
