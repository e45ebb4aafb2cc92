"""One training step of a Bayesian network, pyro-local against its peers, interleaved.

Every contender is built once, warmed up, and then timed round-robin: in each round
every contender runs ``--steps`` steps in turn (the order rotates from round to round),
and its time per step in that round is recorded. Medians over rounds are reported,
with ratios to the first contender of the section. Interleaving spreads any load on a
shared machine over all contenders alike, so the ratios are fair under load; absolute
milliseconds are indicative. Sections:

- ``mlp``: a Bayesian MLP 784-400-400-10, batch 128, Adam, against a plain PyTorch
  deterministic step: a hand-written plain PyTorch matrix-normal (diagonal) BNN with
  local reparameterization; pyro-local ``LocalSVI`` with ``AutoMatrixNormal`` and with
  ``AutoMeanFieldNormal`` under ``local_reparameterization()``; Pyro's ``SVI`` with
  ``Trace_ELBO`` and ``AutoNormal``; bayesian-torch's ``LinearReparameterization``
  (skipped with a note where it is not installed). The Pyro-based contenders run once
  more with Pyro's validation off: the difference is validation's share of a step.
- ``engine``: the engine's fixed cost per layer and step on a deterministic network of
  narrow layers (width 32, 8 layers, each with a 10-way local head), ``LocalSVI``
  fused and sequential against the same local learning written as a plain per-layer
  loop.
- ``hierarchy``: the rectified-Gaussian hierarchy (784 - 300 - 200 - 100 - 50) with its
  structured guide under ``LocalSVI`` and under Pyro's ``SVI`` against a same-size
  Pyro VAE: the same networks with Gaussian latents (a ladder VAE), Pyro's ``SVI`` and
  ``TraceMeanField_ELBO``; with each step's saved-for-backward memory.
- ``memory``: the peak memory a step allocates, for ``LocalSVI``'s default multi-tensor
  (``foreach``) Adam against the per-tensor loop, on a deterministic MLP of 16 layers
  of 512 units trained as one layer.

A script, not a test::

    python benchmarks/bench_bayes_step.py --threads 1 --rounds 15 --steps 10
    python benchmarks/bench_bayes_step.py --sections mlp --device cuda

Peers: Pyro and plain PyTorch (``pip install .[bench]``); bayesian-torch where it is
installed (``pip install --no-deps bayesian-torch``: its declared dependencies would
replace a CPU torch), skipped with a note otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from bench_engine import local_loop_step, localsvi_step, mlp
from pyro.infer import SVI, Trace_ELBO, TraceMeanField_ELBO
from pyro.infer.autoguide import AutoNormal
from torch import nn

from pyro_local.guides import AutoMatrixNormal, AutoMeanFieldNormal, StructuredRectifiedGuide
from pyro_local.infer import LocalSVI, SavedTensorMeter
from pyro_local.models import BayesianMLP, RectifiedHierarchy
from pyro_local.models.rectified_hierarchy import OBSERVED, latent_name
from pyro_local.nn import local_reparameterization

NUM_DATA = 60000
SIZES = (784, 400, 400, 10)


class Contender(NamedTuple):
    """A training step and the context it runs in (Pyro's validation, handlers)."""

    step: Callable
    context: Callable = contextlib.nullcontext


def _pyro_context(validation=True, local=False, own_store=False):
    """Pyro's validation on or off, optionally the local reparameterization handler,
    and for Pyro's SVI a param store of the contender's own (two AutoNormal guides
    would otherwise share their parameters by name)."""
    store = {"params": {}, "constraints": {}}

    def context():
        stack = contextlib.ExitStack()
        stack.enter_context(pyro.validation_enabled(validation))
        if local:
            stack.enter_context(local_reparameterization())
        if own_store:
            stack.enter_context(pyro.get_param_store().scope(store))
        return stack

    return context


def _torch_step(params, loss_fn):
    opt = torch.optim.Adam(params, lr=1e-3)

    def step(*batch):
        loss = loss_fn(*batch)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


# ------------------------------------------------------------------ MLP contenders
def plain_step(device):
    net = mlp(400, 2, 784).to(device)
    return Contender(_torch_step(net.parameters(), lambda x, y: F.cross_entropy(net(x), y)))


class PlainMatrixNormalLinear(nn.Module):
    """``MN(M, diag(r^2), diag(c^2))`` weights (bias row last, inputs scaled by
    ``1/sqrt(n)``), local reparameterization, KL to ``MN(0, I, I)``: the library's
    diagonal matrix-normal layer written by hand."""

    def __init__(self, d, p):
        super().__init__()
        n = d + 1
        self.c = 1 / math.sqrt(n)
        loc = torch.randn(n, p) * math.sqrt(4 / (d + p))
        loc[-1] = 0
        self.loc = nn.Parameter(loc)
        self.log_row = nn.Parameter(0.01 * torch.randn(n))
        self.log_col = nn.Parameter(0.01 * torch.randn(p))

    def forward(self, x):
        row_var, col_scale = (2 * self.log_row).exp(), self.log_col.exp()
        mean = self.c * torch.addmm(self.loc[-1], x, self.loc[:-1])
        quad = self.c**2 * torch.addmv(row_var[-1], x.pow(2), row_var[:-1])
        noise = torch.randn_like(mean) * col_scale
        return mean + quad.sqrt().unsqueeze(-1) * noise

    def kl(self):
        n, p = self.loc.shape
        trace = (2 * self.log_row).exp().sum() * (2 * self.log_col).exp().sum()
        log_det = 2 * (n * self.log_col.sum() + p * self.log_row.sum())
        return 0.5 * (trace + self.loc.pow(2).sum() - n * p - log_det)


def plain_mn_step(device):
    layers = nn.ModuleList(PlainMatrixNormalLinear(a, b) for a, b in zip(SIZES[:-1], SIZES[1:])).to(
        device
    )

    def loss(x, y):
        h = x
        for i, layer in enumerate(layers):
            h = layer(h)
            if i < len(layers) - 1:
                h = torch.relu(h)
        nll = F.cross_entropy(h, y, reduction="sum") * (NUM_DATA / x.shape[0])
        return nll + sum(layer.kl() for layer in layers)

    return Contender(_torch_step(layers.parameters(), loss))


def local_svi_step(guide_cls, validation=True):
    def build(device):
        model = BayesianMLP(SIZES[0], list(SIZES[1:-1]), SIZES[-1], num_data=NUM_DATA)
        model.to(device)
        svi = LocalSVI(model, guide_cls(model), optim_args={"lr": 1e-3})
        return Contender(svi.step, _pyro_context(validation, local=True))

    return build


def pyro_autonormal_step(validation=True):
    def build(device):
        model = BayesianMLP(SIZES[0], list(SIZES[1:-1]), SIZES[-1], num_data=NUM_DATA)
        model.to(device)
        guide = AutoNormal(model, init_scale=0.01)
        svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-3}), Trace_ELBO())
        return Contender(svi.step, _pyro_context(validation, own_store=True))

    return build


def bayesian_torch_step(device):
    from bayesian_torch.layers.variational_layers.linear_variational import (
        LinearReparameterization,
    )

    layers = nn.ModuleList(
        LinearReparameterization(a, b) for a, b in zip(SIZES[:-1], SIZES[1:])
    ).to(device)

    def loss(x, y):
        h, kl = x, 0.0
        for i, layer in enumerate(layers):
            h, layer_kl = layer(h)
            kl = kl + layer_kl
            if i < len(layers) - 1:
                h = torch.relu(h)
        return F.cross_entropy(h, y, reduction="sum") * (NUM_DATA / x.shape[0]) + kl

    return Contender(_torch_step(layers.parameters(), loss))


def _has_bayesian_torch():
    try:
        import bayesian_torch.layers.variational_layers.linear_variational  # noqa: F401
    except ImportError:
        return False
    return True


# ------------------------------------------------------------------- the engine
def engine_case(build):
    def make(device, width, depth):
        step, _ = build(width, depth, 784, device)
        return Contender(step)

    return make


# ---------------------------------------------------------------- the hierarchy
def hierarchy_local_step(device):
    model = RectifiedHierarchy().to(device)
    guide = StructuredRectifiedGuide(model).to(device)
    svi = LocalSVI(model, guide, strict=False, optim_args={"lr": 1e-3})
    return Contender(svi.step)


def hierarchy_pyro_step(device):
    model = RectifiedHierarchy().to(device)
    guide = StructuredRectifiedGuide(model).to(device)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-3}), TraceMeanField_ELBO())
    return Contender(svi.step, _pyro_context(own_store=True))


def gaussian_vae_step(device):
    """The same networks with Gaussian latents: a ladder VAE under Pyro's SVI."""
    net = RectifiedHierarchy().to(device)
    encoder = StructuredRectifiedGuide(net).to(device)

    def model(x):
        pyro.module("gauss_model", net)
        with pyro.plate("data", x.shape[0], dim=-1):
            z = None
            for l in reversed(range(net.num_layers)):
                loc, scale = net.prior_params(l, z)
                loc, scale = loc.expand(x.shape[0], -1), scale.expand(x.shape[0], -1)
                z = pyro.sample(latent_name(l), dist.Normal(loc, scale).to_event(1))
            pyro.sample(OBSERVED, net.observation(net.decoder(z)), obs=x)

    def guide(x):
        pyro.module("gauss_guide", encoder)
        factors = encoder.encoder(x)
        with pyro.plate("data", x.shape[0], dim=-1):
            z = None
            for l in reversed(range(net.num_layers)):
                loc, scale = encoder.posterior_params(l, factors[l], z)
                z = pyro.sample(latent_name(l), dist.Normal(loc, scale).to_event(1))

    svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-3}), TraceMeanField_ELBO())
    return Contender(svi.step, _pyro_context(own_store=True))


# ------------------------------------------------------------------- the memory
def one_layer_engine_step(foreach):
    def build(device):
        net = mlp(512, 16, 784).to(device)

        def model(x, y):
            pyro.module("mlp16", net)
            with pyro.plate("data", x.shape[0]):
                pyro.sample("y", dist.Categorical(logits=net(x)), obs=y)

        svi = LocalSVI(model, None, optim_args={"lr": 1e-3, "foreach": foreach})
        return Contender(svi.step)

    return build


@contextlib.contextmanager
def _quiet_stderr():
    # The profiler's backend logs its start and stop on file descriptor 2.
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def peak_step_memory(contender, batch):
    """Peak bytes allocated during one step above what lived before it (CPU:
    the profiler's allocation events; CUDA: the allocator's peak)."""
    if batch[0].is_cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        with contender.context():
            contender.step(*batch)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    from torch.profiler import ProfilerActivity, profile

    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        with contender.context():
            contender.step(*batch)
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    live = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):
        live += e.nbytes()
        peak = max(peak, live)
    return peak


def saved_memory(contender, batch):
    with contender.context(), SavedTensorMeter() as meter:
        contender.step(*batch)
    return meter.peak


# ------------------------------------------------------------------- measuring
def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(contenders, batch, rounds, steps, warmup, device):
    """``{name: [ms per step, one per round]}``, contenders timed round-robin."""
    for c in contenders.values():
        with c.context():
            for _ in range(warmup):
                c.step(*batch)
    names = list(contenders)
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            c = contenders[name]
            with c.context():
                _sync(device)
                start = time.perf_counter()
                for _ in range(steps):
                    c.step(*batch)
                _sync(device)
            times[name].append(1e3 * (time.perf_counter() - start) / steps)
    return times


def report(title, times, extra=None):
    reference = statistics.median(next(iter(times.values())))
    print(f"\n{title}\n")
    columns = ["contender", "ms/step (median)", "IQR", "x first"] + list(extra or {})
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    rows = []
    for name, ts in times.items():
        q = statistics.quantiles(ts, n=4) if len(ts) > 1 else [ts[0]] * 3
        med = statistics.median(ts)
        cells = [name, f"{med:.2f}", f"{q[0]:.2f}-{q[2]:.2f}", f"{med / reference:.2f}"]
        cells += [extra[k].get(name, "") for k in extra or {}]
        print("| " + " | ".join(cells) + " |", flush=True)
        rows.append({"name": name, "ms": med, "ms_rounds": ts, "ratio": med / reference})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=10, help="steps per contender per round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument(
        "--sections",
        nargs="+",
        default=["mlp", "engine", "hierarchy", "memory"],
        choices=["mlp", "engine", "hierarchy", "memory"],
    )
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    pyro.set_rng_seed(0)
    x = torch.randn(args.batch, 784, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)
    out = {
        "meta": {
            "device": torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "pyro": pyro.__version__,
            "threads": args.threads,
            "rounds": args.rounds,
            "steps": args.steps,
            "batch": args.batch,
        }
    }
    print(json.dumps(out["meta"]))
    timing = dict(rounds=args.rounds, steps=args.steps, warmup=args.warmup, device=device)

    if "mlp" in args.sections:
        builders = {
            "plain PyTorch, deterministic": plain_step,
            "plain PyTorch, matrix normal (local reparam.)": plain_mn_step,
            "pyro-local AutoMatrixNormal": local_svi_step(AutoMatrixNormal),
            "pyro-local AutoMeanFieldNormal": local_svi_step(AutoMeanFieldNormal),
            "Pyro SVI AutoNormal": pyro_autonormal_step(),
            "bayesian-torch LinearReparameterization": bayesian_torch_step,
            "pyro-local AutoMatrixNormal, validation off": local_svi_step(
                AutoMatrixNormal, validation=False
            ),
            "pyro-local AutoMeanFieldNormal, validation off": local_svi_step(
                AutoMeanFieldNormal, validation=False
            ),
            "Pyro SVI AutoNormal, validation off": pyro_autonormal_step(validation=False),
        }
        if not _has_bayesian_torch():
            print(
                "note: bayesian-torch is not installed (pip install --no-deps bayesian-torch); "
                "skipped"
            )
            del builders["bayesian-torch LinearReparameterization"]
        contenders = {name: build(device) for name, build in builders.items()}
        times = interleaved(contenders, (x, y), **timing)
        rows = report(f"Bayesian MLP 784-400-400-10, batch {args.batch}", times)
        med = {r["name"]: r["ms"] for r in rows}
        print()
        for name in (
            "pyro-local AutoMatrixNormal",
            "pyro-local AutoMeanFieldNormal",
            "Pyro SVI AutoNormal",
        ):
            share = 1 - med[name + ", validation off"] / med[name]
            print(f"validation's share of a step, {name}: {100 * share:.1f} %")
        out["mlp"] = rows

    if "engine" in args.sections:
        width, depth = 32, 8
        cases = {
            "plain per-layer loop": local_loop_step,
            "LocalSVI fused": localsvi_step("fused"),
            "LocalSVI sequential": localsvi_step("sequential"),
        }
        contenders = {n: engine_case(b)(device, width, depth) for n, b in cases.items()}
        times = interleaved(contenders, (x, y), **timing)
        rows = report(f"Deterministic local network, width {width}, {depth} layers", times)
        loop = rows[0]["ms"]
        for r in rows[1:]:
            r["ms_per_layer_over_loop"] = (r["ms"] - loop) / depth
            print(
                f"{r['name']}: {r['ms_per_layer_over_loop']:.3f} ms per layer per step "
                "over the plain loop"
            )
        out["engine"] = rows

    if "hierarchy" in args.sections:
        xb = (torch.rand(args.batch, 784, device=device) < 0.3).float()
        builders = {
            "Pyro SVI Gaussian ladder VAE (same networks)": gaussian_vae_step,
            "LocalSVI rectified hierarchy, structured guide": hierarchy_local_step,
            "Pyro SVI rectified hierarchy, structured guide": hierarchy_pyro_step,
        }
        contenders = {n: b(device) for n, b in builders.items()}
        saved = {n: saved_memory(c, (xb,)) / 2**20 for n, c in contenders.items()}
        times = interleaved(contenders, (xb,), **timing)
        base = next(iter(saved.values()))
        extra = {
            "saved MiB": {n: f"{v:.2f}" for n, v in saved.items()},
            "x first (memory)": {n: f"{v / base:.2f}" for n, v in saved.items()},
        }
        rows = report("Rectified hierarchy against a same-size VAE", times, extra)
        for r in rows:
            r["saved_mib"] = saved[r["name"]]
        out["hierarchy"] = rows

    if "memory" in args.sections:
        print("\nPeak memory of one step, MLP 16 x 512 trained as one layer\n")
        print("| optimizer | peak MiB allocated in a step | saved-for-backward MiB |")
        print("|---|---|---|")
        out["memory"] = []
        for foreach in (True, False):
            c = one_layer_engine_step(foreach)(device)
            for _ in range(2):
                c.step(x, y)
            peak, saved_b = peak_step_memory(c, (x, y)), saved_memory(c, (x, y))
            label = "Adam, foreach (default)" if foreach else "Adam, foreach=False"
            print(f"| {label} | {peak / 2**20:.1f} | {saved_b / 2**20:.1f} |")
            out["memory"].append(
                {"foreach": foreach, "peak_mib": peak / 2**20, "saved_mib": saved_b / 2**20}
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
