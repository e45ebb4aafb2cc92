"""Peak activation memory and step time against depth: VGG-8 and its 2x deeper variant.

For ``vgg8(depth_multiplier=m)`` with ``m`` in ``--multipliers`` (1: VGG-8, 6 convs;
2: 12 convs at the same resolutions), one training step of:

- ``torch-backprop``: plain PyTorch, end to end;
- ``backprop``: the same under LocalSVI (one layer);
- ``<rule>-fused``: the local rule, all layers' losses summed, one backward;
- ``<rule>-sequential``: the local rule, one layer at a time (forward, backward, step,
  free): its peak should not grow with depth.

Memory is the peak of the bytes held by tensors saved for backward during the step
(saved-tensor hooks; activation memory on any device), and on CUDA also the peak
allocated memory above what lives between steps.

Usage::

    python benchmarks/bench_local_depth.py                       # CPU-sized: width 0.25
    python benchmarks/bench_local_depth.py --width 1 --batch 128 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import pyro
import torch

from pyro_local.infer import LocalSVI
from pyro_local.infer.memory import SavedTensorMeter
from pyro_local.models import vgg8
from pyro_local.nn import LLS, SVP, GreedyHeads, backprop_net, local_net

RULES = {"lls": LLS, "svp": SVP, "greedy": GreedyHeads}


def torch_step(stack):
    opt = torch.optim.Adam(stack.parameters(), lr=1e-3)

    def step(x, y):
        torch.nn.functional.cross_entropy(stack(x), y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def cases(rule, multiplier, width, device):
    def stack():
        torch.manual_seed(0)
        return vgg8(width=width, depth_multiplier=multiplier).to(device)

    yield "torch-backprop", torch_step(stack())
    yield "backprop", LocalSVI(backprop_net(stack())).step
    for mode in ("fused", "sequential"):
        net = local_net(stack(), RULES[rule]()).to(device)
        yield f"{rule}-{mode}", LocalSVI(net, mode=mode).step


def measure(step, x, y, device, iters):
    step(x, y)  # builds optimizers
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step(x, y)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    with SavedTensorMeter() as meter:
        step(x, y)
    row = {"ms": 1e3 * statistics.median(times), "saved_mib": meter.peak / 2**20}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        step(x, y)
        torch.cuda.synchronize(device)
        row["cuda_act_mib"] = (torch.cuda.max_memory_allocated(device) - base) / 2**20
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rule", choices=sorted(RULES), default="lls")
    p.add_argument("--multipliers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--width", type=float, default=0.25, help="VGG width multiplier")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    pyro.set_rng_seed(0)
    x = torch.randn(args.batch, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)
    rows = []
    for m in args.multipliers:
        convs = 6 * m
        for name, step in cases(args.rule, m, args.width, device):
            r = {"case": name, "convs": convs, **measure(step, x, y, device, args.iters)}
            rows.append(r)
            print(f"{convs:3d} convs  {name:18s} {r['ms']:9.1f} ms  saved {r['saved_mib']:8.1f} MiB"
                  + (f"  cuda {r['cuda_act_mib']:8.1f} MiB" if "cuda_act_mib" in r else ""),
                  flush=True)
    print("\n| case | " + " | ".join(f"{6 * m} convs: ms, saved MiB" for m in args.multipliers)
          + " |")
    print("|---|" + "---|" * len(args.multipliers))
    for name in dict.fromkeys(r["case"] for r in rows):
        cells = [f"{r['ms']:.0f}, {r['saved_mib']:.1f}" for r in rows if r["case"] == name]
        print(f"| {name} | " + " | ".join(cells) + " |")
    meta = {"args": vars(args), "device": str(device),
            "machine": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(), "torch": torch.__version__}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
