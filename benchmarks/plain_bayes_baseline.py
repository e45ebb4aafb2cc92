"""An independent plain-PyTorch reference for the Bayesian Fashion-MNIST rows.

Deterministic LeNet-5 / MLP, mean-field Bayes-by-backprop (Blundell et al. 2015) and
its matrix-normal variant with diagonal row and column covariances (Louizos & Welling
2016: the variance of weight ``(o, i)`` is ``r_o c_i``), both with the local
reparameterization trick (Kingma et al. 2015), written with nothing
of pyro-local but its data loading and metric functions, so that the library's rows
in docs/results.md can be compared side by side at the same budget: same data
(standardized), batch, Adam, epochs, parameter averaging, test draws and metrics.

``--param fan-in`` rebuilds the networks in the parametrization pyro-local used before
issue 12 (pre-activation ``[a, 1] W / sqrt(fan_in + 1)`` with ``O(1)`` weights), to
measure what that parametrization does under Adam. A script, not a test::

    python benchmarks/plain_bayes_baseline.py --arch lenet5 --method bbb --epochs 20 \
        --threads 1 --out runs/plain/lenet5_bbb.json
"""

import argparse
import contextlib
import json
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from pyro_local import diagnostics as D
from pyro_local.data import load
from pyro_local.diagnostics.calibration import negative_log_likelihood
from pyro_local.diagnostics.classification import ood_images


class Layer(nn.Module):
    """A dense or 2-d convolutional layer with a Gaussian posterior over its weights and
    bias (``bayes="bbb"``: mean-field; ``bayes="mn"``: matrix normal with diagonal
    factors over ``(out, in + 1)``, the bias being the last input column) or point
    weights (``bayes=None``). ``scale`` multiplies weights and bias in the forward pass
    (1 for the standard parametrization)."""

    def __init__(self, shape, conv, bayes, scale, init_std, prior_std, padding=0):
        super().__init__()
        self.conv, self.bayes, self.scale, self.padding = conv, bayes, scale, padding
        fan_in = math.prod(shape[1:])
        bound = 1 / math.sqrt(fan_in)  # PyTorch's default init, in effective units
        self.w_mu = nn.Parameter(torch.empty(shape).uniform_(-bound, bound) / scale)
        self.b_mu = nn.Parameter(torch.empty(shape[0]).uniform_(-bound, bound) / scale)
        if bayes == "mn":  # std(o, i) = softplus(row_o) softplus(col_i), each sqrt(init)
            rho = math.log(math.expm1(math.sqrt(init_std / scale)))
            self.row_rho = nn.Parameter(torch.full((shape[0],), rho))
            self.col_rho = nn.Parameter(torch.full((fan_in + 1,), rho))
        elif bayes:
            rho = math.log(math.expm1(init_std / scale))  # softplus(rho) = std
            self.w_rho = nn.Parameter(torch.full(shape, rho))
            self.b_rho = nn.Parameter(torch.full((shape[0],), rho))
        if bayes:
            if prior_std == "fan-in":  # the paper's MN(0, I, I) on fan-in-scaled weights
                prior_std = 1 / math.sqrt(fan_in + 1)
            self.prior_std = float(prior_std) / scale  # given in effective units

    def op(self, x, w, b):
        if self.conv:
            return F.conv2d(x, w, b, padding=self.padding)
        return F.linear(x, w, b)

    def forward(self, x, sample=None):
        """``sample``: None (local reparameterization), "mean", or "weights" (one draw of
        the whole weights, shared by the batch)."""
        c = self.scale
        if not self.bayes or sample == "mean":
            return self.op(x, c * self.w_mu, c * self.b_mu)
        w_std, b_std = self.stds()
        if sample == "weights":
            w = self.w_mu + w_std * torch.randn_like(w_std)
            b = self.b_mu + b_std * torch.randn_like(b_std)
            return self.op(x, c * w, c * b)
        mean = self.op(x, c * self.w_mu, c * self.b_mu)
        var = self.op(x * x, (c * w_std) ** 2, (c * b_std) ** 2)
        return mean + var.clamp_min(1e-16).sqrt() * torch.randn_like(mean)

    def stds(self):
        """Posterior standard deviations of the weights and of the bias."""
        if self.bayes == "mn":
            std = F.softplus(self.row_rho)[:, None] * F.softplus(self.col_rho)
            return std[:, :-1].reshape(self.w_mu.shape), std[:, -1]
        return F.softplus(self.w_rho), F.softplus(self.b_rho)

    def kl(self):
        if not self.bayes:
            return 0.0
        total = 0.0
        for mu, std in zip((self.w_mu, self.b_mu), self.stds()):
            s = self.prior_std
            total = total + (torch.log(s / std) + (std**2 + mu**2) / (2 * s**2) - 0.5).sum()
        return total


class Net(nn.Module):
    def __init__(self, arch, bayes, param, init_std, prior_std, hidden):
        super().__init__()

        def layer(shape, conv=False, padding=0):
            scale = 1.0 if param == "standard" else 1 / math.sqrt(math.prod(shape[1:]) + 1)
            return Layer(shape, conv, bayes, scale, init_std, prior_std, padding)

        if arch == "lenet5":
            sizes = (400, *hidden, 10)
            self.convs = nn.ModuleList([layer((6, 1, 5, 5), True, 2), layer((16, 6, 5, 5), True)])
        else:
            sizes = (784, *hidden, 10)
            self.convs = nn.ModuleList()
        self.dense = nn.ModuleList([layer((o, i)) for i, o in zip(sizes[:-1], sizes[1:])])

    def forward(self, x, sample=None):
        for conv in self.convs:
            x = F.max_pool2d(F.relu(conv(x, sample)), 2)
        x = x.flatten(1)
        for i, lin in enumerate(self.dense):
            x = lin(x, sample)
            x = x if i == len(self.dense) - 1 else F.relu(x)
        return x

    def kl(self):
        return sum(m.kl() for m in (*self.convs, *self.dense))


class EMA:
    """Parameter averaging with the warm-up ``min(decay, (1 + t) / (10 + t))``."""

    def __init__(self, params, decay):
        self.params, self.decay, self.t = list(params), decay, 0
        self.shadow = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self):
        self.t += 1
        d = min(self.decay, (1 + self.t) / (10 + self.t))
        for s, p in zip(self.shadow, self.params):
            s.lerp_(p, 1 - d)

    @contextlib.contextmanager
    def swapped(self):
        saved = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            for p, s in zip(self.params, self.shadow):
                p.copy_(s)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, s in zip(self.params, saved):
                    p.copy_(s)


@torch.no_grad()
def draws(net, x, num_samples, bayes):
    """``(S, N, C)`` probabilities from ``S`` whole-weight draws (1 for a point net)."""
    mode, s = ("weights", num_samples) if bayes else ("mean", 1)
    return torch.stack(
        [
            torch.cat([net(x[i : i + 1000], mode).softmax(-1) for i in range(0, len(x), 1000)])
            for _ in range(s)
        ]
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", choices=("lenet5", "mlp"), default="lenet5")
    p.add_argument("--method", choices=("deterministic", "bbb", "mn"), default="bbb")
    p.add_argument("--param", choices=("standard", "fan-in"), default="standard")
    p.add_argument("--hidden", type=int, nargs="+", default=None)
    p.add_argument(
        "--init-std",
        type=float,
        default=math.log1p(math.exp(-5)),
        help="initial posterior std, effective units (default softplus(-5))",
    )
    p.add_argument(
        "--prior-std",
        default="1.0",
        help="prior std in effective units, or fan-in for 1 / sqrt(fan_in + 1) per layer",
    )
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--ema", type=float, default=0.999, help="0: off")
    p.add_argument("--num-samples", type=int, default=20)
    p.add_argument("--eval-every", type=int, default=0)
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    flat = args.arch == "mlp"
    train = load(args.data, "train", normalize="standardize", flatten=flat)
    test = load(args.data, "test", normalize="standardize", flatten=flat)
    x, y, n = train.images, train.labels, len(train.labels)
    hidden = args.hidden or ((120, 84) if args.arch == "lenet5" else (400, 400))
    bayes = None if args.method == "deterministic" else args.method
    net = Net(args.arch, bayes, args.param, args.init_std, args.prior_std, hidden)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    ema = EMA(net.parameters(), args.ema) if args.ema > 0 else None
    averaged = ema.swapped if ema else contextlib.nullcontext
    gen = torch.Generator().manual_seed(args.seed)
    times, curve = [], []
    for epoch in range(args.epochs):
        start, total = time.perf_counter(), 0.0
        for idx in torch.randperm(n, generator=gen).split(args.batch_size):
            loss = F.cross_entropy(net(x[idx]), y[idx]) + net.kl() / n  # -ELBO per datum
            opt.zero_grad()
            loss.backward()
            opt.step()
            if ema:
                ema.update()
            total += loss.item() * len(idx) / n
        times.append(time.perf_counter() - start)
        print(f"epoch {epoch + 1}: -ELBO per datum {total:.4f}, {times[-1]:.1f} s", flush=True)
        if args.eval_every and (epoch + 1) % args.eval_every == 0:
            with averaged():
                probs = draws(net, test.images[:2000], 4, bayes).mean(0)
            point = {
                "epoch": epoch + 1,
                "accuracy": float((probs.argmax(-1) == test.labels[:2000]).double().mean()),
                "nll": float(negative_log_likelihood(probs, test.labels[:2000])),
            }
            curve.append(point)
            print(
                f"  test[:2000]: accuracy {point['accuracy']:.4f}, NLL {point['nll']:.4f}",
                flush=True,
            )
    ood = ood_images(test.images[:2000], seed=args.seed)
    with averaged():
        metrics = D.classifier_metrics(
            draws(net, test.images, args.num_samples, bayes),
            test.labels,
            {k: draws(net, v, args.num_samples, bayes) for k, v in ood.items()},
            num_bins=15,
        )
        if bayes:  # the posterior mean network, for reference
            mean_probs = draws(net, test.images, 1, False)
            metrics["mean_net_accuracy"] = float(
                (mean_probs[0].argmax(-1) == test.labels).double().mean()
            )
    result = {"config": vars(args), "epoch_seconds": times, "curve": curve, **metrics}
    print(json.dumps({k: v for k, v in result.items() if k != "config"}, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
