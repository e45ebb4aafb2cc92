"""Training throughput of each local rule against plain PyTorch backprop, interleaved.

Every method trains the same network on the same on-device batches (Fashion-MNIST with
the on-device random crop and flip of ``pyro_local.data``). Methods are timed in
rounds, ``--steps`` steps each, round-robin, so that a change in the machine's load
falls on all of them alike; the table gives the median over rounds of examples per
second, its ratio to plain PyTorch backprop, and the peak bytes of tensors saved for
backward during one step.

Usage::

    python benchmarks/bench_local_rules.py                     # SmallConv, batch 128
    python benchmarks/bench_local_rules.py --rounds 5 --steps 20 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import pyro
import torch

from pyro_local.data import RandomCropFlip, TensorLoader, load
from pyro_local.infer import LocalSVI
from pyro_local.infer.memory import SavedTensorMeter
from pyro_local.models import small_conv
from pyro_local.nn import LLS, SVP, ContSup, GreedyHeads, backprop_net, local_net

RULES = {
    "greedy": lambda: (GreedyHeads("linear"), None),
    "greedy-conv": lambda: (GreedyHeads("conv"), None),
    "svp": lambda: (SVP(), None),
    "lls": lambda: (LLS(), None),
    "lls-mxm": lambda: (LLS(variant="mxm"), None),
    "contsup": lambda: (GreedyHeads("linear"), ContSup(input=True)),
    "contsup-conv": lambda: (GreedyHeads("conv"), ContSup(input=True)),
}


def torch_backprop(stack, lr):
    opt = torch.optim.Adam(stack.parameters(), lr=lr)

    def step(x, y):
        torch.nn.functional.cross_entropy(stack(x), y, reduction="sum").backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def methods(mode, device, lr=1e-3):
    def stack():
        torch.manual_seed(0)
        return small_conv().to(device)

    out = {"torch-backprop": torch_backprop(stack(), lr),
           "backprop": LocalSVI(backprop_net(stack()), optim_args={"lr": lr}).step}
    for name, rule in RULES.items():
        net = local_net(stack(), *rule()).to(device)
        out[f"{name}-{mode}"] = LocalSVI(net, mode=mode, optim_args={"lr": lr}).step
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--mode", choices=["fused", "sequential"], default="sequential")
    p.add_argument("--dataset", default="fashion-mnist-small")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    pyro.set_rng_seed(0)
    data = load(args.dataset, "train", device=device, normalize="standardize")
    loader = TensorLoader(data.images, data.labels, batch_size=args.batch, drop_last=True,
                          transform=RandomCropFlip(padding=4, fill=-0.2860 / 0.3530))
    steps = methods(args.mode, device)

    def batches():
        while True:
            yield from loader

    stream = batches()
    saved = {}
    for name, step in steps.items():  # warm-up (optimizers, caches) and memory
        x, y = next(stream)
        step(x, y)
        with SavedTensorMeter() as meter:
            step(x, y)
        saved[name] = meter.peak / 2**20
    rates = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step(*next(stream))  # the loader's crop and flip are inside the timing
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            rates[name].append(args.steps * args.batch / (time.perf_counter() - t0))
    ref = statistics.median(rates["torch-backprop"])
    rows = []
    print("| method | examples/s (median of rounds) | x plain PyTorch backprop | "
          "saved-activation MiB |")
    print("|---|---|---|---|")
    for name, r in rates.items():
        med = statistics.median(r)
        rows.append({"method": name, "examples_per_s": med, "rounds": r,
                     "saved_mib": saved[name]})
        print(f"| {name} | {med:.0f} | {med / ref:.2f} | {saved[name]:.1f} |")
    meta = {"args": vars(args), "device": str(device),
            "machine": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(), "torch": torch.__version__}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
