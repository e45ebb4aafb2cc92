"""Step time and memory of the local SVI engine against plain PyTorch and Pyro's SVI.

Prints a table and writes JSON. Cases, on an MLP of ``depth`` hidden layers of
``width`` units (each with a 10-way local head where the method is local):

- ``backprop``: plain PyTorch, one loss at the top, one backward, one step;
- ``local-loop``: plain PyTorch local learning: per layer detach, forward, loss,
  backward, step (one optimizer per layer);
- ``localsvi-fused`` / ``localsvi-sequential``: the same local network as a
  :class:`~pyro_local.nn.LocalNet` under :class:`~pyro_local.infer.LocalSVI`;
- ``pyro-svi``: the backprop network as a Pyro model under Pyro's ``SVI``;

plus a Bayesian MLP 784-400-400-10 (batch 128, Normal priors on the weights):
``bayes-pyro-autonormal`` (Pyro SVI with AutoNormal, one global ELBO) against
``bayes-localsvi`` (LocalSVI, AutoNormal guide per layer, local heads).

Memory: on CUDA, the peak allocated memory of a step minus what lives between steps
(parameters, gradients, optimizer state); everywhere, the peak of the bytes held by
tensors saved for backward (activation memory), measured with saved-tensor hooks.

Usage::

    python benchmarks/bench_engine.py                 # GPU sizes: width 2048, batch 1024
    python benchmarks/bench_engine.py --cpu           # small sizes for a CPU
    python benchmarks/bench_engine.py --cpu --depths 4 8 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.infer.autoguide import AutoNormal
from pyro.nn import PyroModule, PyroSample

from pyro_local.infer import LocalSVI
from pyro_local.infer.memory import SavedTensorMeter
from pyro_local.nn import LocalNet

NUM_CLASSES = 10


# ----------------------------------------------------------------------- networks
class Block(PyroModule):
    """Linear + ReLU with a local 10-way head on the label."""

    def __init__(self, d_in, d_out):
        super().__init__()
        self.lin = torch.nn.Linear(d_in, d_out)
        self.head = torch.nn.Linear(d_out, NUM_CLASSES)

    def forward(self, h, y):
        a = torch.relu(self.lin(h))
        with pyro.plate("data", h.shape[0]):
            pyro.sample("y", dist.Categorical(logits=self.head(a)), obs=y)
        return a


class BayesBlock(PyroModule):
    """A Bayesian linear layer (Normal prior) with a local head."""

    def __init__(self, d_in, d_out, last=False):
        super().__init__()
        self.weight = PyroSample(dist.Normal(0.0, 1.0).expand([d_in, d_out]).to_event(2))
        self.last = last
        self.head = None if last else torch.nn.Linear(d_out, NUM_CLASSES)

    def forward(self, h, y):
        a = h @ self.weight / h.shape[-1] ** 0.5
        logits = a if self.last else self.head(torch.relu(a))
        with pyro.plate("data", h.shape[0]):
            pyro.sample("y", dist.Categorical(logits=logits), obs=y)
        return torch.relu(a)


class BayesMLP(PyroModule):
    """The same Bayesian MLP as one Pyro model (one ELBO, backprop through all)."""

    def __init__(self, sizes):
        super().__init__()
        self.sizes = sizes
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            setattr(self, f"w{i}", PyroSample(dist.Normal(0.0, 1.0).expand([a, b]).to_event(2)))

    def forward(self, x, y):
        h = x
        for i in range(len(self.sizes) - 1):
            h = h @ getattr(self, f"w{i}") / h.shape[-1] ** 0.5
            if i < len(self.sizes) - 2:
                h = torch.relu(h)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("y", dist.Categorical(logits=h), obs=y)


def mlp(width, depth, d_in):
    layers = []
    for i in range(depth):
        layers += [torch.nn.Linear(d_in if i == 0 else width, width), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers, torch.nn.Linear(width, NUM_CLASSES))


# ------------------------------------------------------------------------ steps
def backprop_step(width, depth, d_in, device):
    net = mlp(width, depth, d_in).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step(x, y):
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    return step, [net]


def local_loop_step(width, depth, d_in, device):
    blocks = [torch.nn.ModuleDict({"lin": torch.nn.Linear(d_in if i == 0 else width, width),
                                   "head": torch.nn.Linear(width, NUM_CLASSES)}).to(device)
              for i in range(depth)]
    opts = [torch.optim.Adam(b.parameters(), lr=1e-3) for b in blocks]

    def step(x, y):
        h = x
        for b, opt in zip(blocks, opts):
            a = torch.relu(b["lin"](h.detach()))
            loss = torch.nn.functional.cross_entropy(b["head"](a), y, reduction="sum")
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            h = a
        return loss

    return step, blocks


def localsvi_step(mode):
    def build(width, depth, d_in, device):
        net = LocalNet({f"l{i}": Block(d_in if i == 0 else width, width)
                        for i in range(depth)}).to(device)
        svi = LocalSVI(net, mode=mode, optim_args={"lr": 1e-3})
        return svi.step, [net]

    return build


def pyro_svi_step(width, depth, d_in, device):
    net = mlp(width, depth, d_in).to(device)

    def model(x, y):
        pyro.module("mlp", net)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("y", dist.Categorical(logits=net(x)), obs=y)

    svi = SVI(model, lambda x, y: None, pyro.optim.Adam({"lr": 1e-3}), Trace_ELBO())
    return svi.step, [net]


def bayes_pyro_step(sizes, device):
    model = BayesMLP(sizes).to(device)
    guide = AutoNormal(model, init_scale=0.01)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-3}), Trace_ELBO())
    return svi.step, [model, guide]


def bayes_local_step(sizes, device):
    n = len(sizes) - 1
    blocks = {f"l{i}": BayesBlock(sizes[i], sizes[i + 1], last=i == n - 1) for i in range(n)}
    net = LocalNet(blocks, guide_builder=lambda m: AutoNormal(m, init_scale=0.01)).to(device)
    svi = LocalSVI(net, optim_args={"lr": 1e-3})
    return svi.step, [net]


# ---------------------------------------------------------------------- measuring

def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(step, modules, x, y, device, warmup, iters):
    for _ in range(warmup):
        step(x, y)
    _sync(device)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step(x, y)
        _sync(device)
        times.append(time.perf_counter() - t0)
    with SavedTensorMeter() as meter:
        step(x, y)
    # The minimum is the least disturbed by other work on a shared machine; the
    # median is reported beside it.
    result = {"ms": 1e3 * min(times), "ms_median": 1e3 * statistics.median(times),
              "saved_mb": meter.peak / 2**20}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        step(x, y)
        _sync(device)
        result["act_mb"] = (torch.cuda.max_memory_allocated(device) - base) / 2**20
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="small sizes, CPU only")
    parser.add_argument("--depths", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--iters", type=int, default=None)
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    device = torch.device("cpu" if args.cpu or not torch.cuda.is_available() else "cuda")
    small = device.type == "cpu"
    width = args.width or (256 if small else 2048)
    batch = args.batch or (128 if small else 1024)
    iters = args.iters or (10 if small else 30)
    pyro.set_rng_seed(0)
    d_in = 784
    x = torch.randn(batch, d_in, device=device)
    y = torch.randint(0, NUM_CLASSES, (batch,), device=device)
    cases = {
        "backprop": backprop_step,
        "local-loop": local_loop_step,
        "localsvi-fused": localsvi_step("fused"),
        "localsvi-sequential": localsvi_step("sequential"),
        "pyro-svi": pyro_svi_step,
    }
    rows = []
    for depth in args.depths:
        for name, build in cases.items():
            pyro.clear_param_store()
            step, modules = build(width, depth, d_in, device)
            r = measure(step, modules, x, y, device, warmup=3, iters=iters)
            rows.append({"case": name, "depth": depth, "width": width, "batch": batch, **r})
            print(f"depth {depth:3d}  {name:22s} {r['ms']:9.2f} ms  "
                  f"saved {r['saved_mb']:8.1f} MiB" +
                  (f"  act {r['act_mb']:8.1f} MiB" if "act_mb" in r else ""), flush=True)
    xb = torch.randn(128, d_in, device=device)
    yb = torch.randint(0, NUM_CLASSES, (128,), device=device)
    for name, build in {"bayes-pyro-autonormal": bayes_pyro_step,
                        "bayes-localsvi": bayes_local_step}.items():
        pyro.clear_param_store()
        step, modules = build([784, 400, 400, 10], device)
        r = measure(step, modules, xb, yb, device, warmup=3, iters=iters)
        rows.append({"case": name, "depth": 3, "width": 400, "batch": 128, **r})
        print(f"bayes 784-400-400-10  {name:22s} {r['ms']:9.2f} ms", flush=True)

    print("\n| depth | case | ms/step (min) | median | x backprop | saved-activation MiB |")
    print("|---|---|---|---|---|---|")
    ref = {r["depth"]: r["ms"] for r in rows if r["case"] == "backprop"}
    for r in rows:
        rel = f"{r['ms'] / ref[r['depth']]:.2f}" if r["depth"] in ref else "-"
        print(f"| {r['depth']} | {r['case']} | {r['ms']:.2f} | {r['ms_median']:.2f} | {rel} "
              f"| {r['saved_mb']:.1f} |")
    meta = {"device": str(torch.cuda.get_device_name(device) if device.type == "cuda"
                          else platform.processor() or platform.machine()),
            "torch": torch.__version__, "pyro": pyro.__version__,
            "threads": torch.get_num_threads()}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1)
    print("\n" + json.dumps(meta))


if __name__ == "__main__":
    main()
