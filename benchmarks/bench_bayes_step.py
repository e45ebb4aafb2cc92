"""One training step of a Bayesian network, pyro-local against its peers, interleaved.

Every contender is built once, warmed up, and then timed round-robin: in each round
every contender runs ``--steps`` steps in turn (the order rotates from round to round),
and its time per step in that round is recorded. Medians over rounds are reported,
with ratios to the first contender of the section. Interleaving spreads any load on a
shared machine over all contenders alike, so the ratios are fair under load; absolute
milliseconds are indicative. Sections:

- ``mlp``: a Bayesian MLP 784-400-400-10, batch 128, Adam, against a plain PyTorch
  deterministic step: hand-written plain PyTorch matrix-normal (diagonal) and
  mean-field BNNs with local reparameterization; pyro-local ``LocalSVI`` with
  ``AutoMatrixNormal`` and with ``AutoMeanFieldNormal`` under
  ``local_reparameterization()``; Pyro's ``SVI`` with ``Trace_ELBO`` and ``AutoNormal``;
  bayesian-torch's ``LinearReparameterization`` (skipped with a note where it is not
  installed). The Pyro-based contenders run once
  more with Pyro's validation off: the difference is validation's share of a step.
- ``engine``: the engine's fixed cost per layer and step on a deterministic network of
  narrow layers (width 32, 8 layers, each with a 10-way local head), ``LocalSVI``
  fused and sequential against the same local learning written as a plain per-layer
  loop, and against the same layer programs traced by Pyro layer by layer without the
  engine (what Pyro's primitives in them cost).
- ``hierarchy``: the rectified-Gaussian hierarchy (784 - 300 - 200 - 100 - 50) with its
  structured guide under ``LocalSVI`` and under Pyro's ``SVI`` against a same-size
  Pyro VAE: the same networks with Gaussian latents (a ladder VAE), Pyro's ``SVI`` and
  ``TraceMeanField_ELBO``; with each step's saved-for-backward memory.
- ``memory``: time and peak memory allocated in a step for Adam's kernels under
  ``LocalSVI``: its default (``fused`` where torch has one), ``foreach`` and the
  per-tensor loop (``foreach=False``), on a deterministic MLP of 16 layers of 512 units
  trained as one layer.

The plain PyTorch reference uses ``torch.optim.Adam`` as a user writes it (on CPU
torch's per-tensor loop); a second row gives it torch's fused kernel, the one
``LocalSVI`` picks.

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
import os
import platform
import statistics
import sys
import time

import bayes_step_contenders as bsc
import pyro
import torch
from bench_engine import local_loop_step, localsvi_step

from pyro_local.infer.memory import SavedTensorMeter


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


def warm(contenders, batch, steps=2):
    """Runs a few steps of each contender: the first steps build optimizer states."""
    for contender in contenders.values():
        with contender.context():
            for _ in range(steps):
                contender.step(*batch)
    return contenders


def saved_memory(contender, batch):
    with contender.context(), SavedTensorMeter() as meter:
        contender.step(*batch)
    return meter.peak


# ------------------------------------------------------------------- measuring
def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(contenders, batch, rounds, steps, warmup, device):
    """Contenders timed round-robin: ``{name: {"wall": [...], "cpu": [...]}}``, the
    milliseconds per step of each round, by the wall clock and by this thread's CPU
    time (which a process waiting for a core does not accumulate)."""
    for c in contenders.values():
        with c.context():
            for _ in range(warmup):
                c.step(*batch)
    names = list(contenders)
    times = {name: {"wall": [], "cpu": []} for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            c = contenders[name]
            with c.context():
                _sync(device)
                wall, cpu = time.perf_counter(), time.thread_time()
                for _ in range(steps):
                    c.step(*batch)
                _sync(device)
            times[name]["wall"].append(1e3 * (time.perf_counter() - wall) / steps)
            times[name]["cpu"].append(1e3 * (time.thread_time() - cpu) / steps)
    return times


def report(title, times, extra=None):
    """Prints a table of medians and ratios to the first contender; returns its rows.
    On CUDA the CPU time is the host's, not the device's: read the wall clock there."""
    first = next(iter(times.values()))
    ref_wall, ref_cpu = statistics.median(first["wall"]), statistics.median(first["cpu"])
    print(f"\n{title}\n")
    columns = ["contender", "ms/step (wall, median)", "IQR", "x first (wall)", "CPU ms/step"]
    columns += ["x first (CPU)", *(extra or {})]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    rows = []
    for name, ts in times.items():
        wall = ts["wall"]
        q = statistics.quantiles(wall, n=4) if len(wall) > 1 else [wall[0]] * 3
        med, cpu = statistics.median(wall), statistics.median(ts["cpu"])
        cells = [name, f"{med:.2f}", f"{q[0]:.2f}-{q[2]:.2f}", f"{med / ref_wall:.2f}"]
        cells += [f"{cpu:.2f}", f"{cpu / ref_cpu:.2f}"]
        cells += [extra[k].get(name, "") for k in extra or {}]
        print("| " + " | ".join(cells) + " |", flush=True)
        rows.append(
            {
                "name": name,
                "ms": med,
                "cpu_ms": cpu,
                "ratio": med / ref_wall,
                "cpu_ratio": cpu / ref_cpu,
                "rounds": ts,
            }
        )
    return rows


def run_mlp(args, timing, device):
    x = torch.randn(args.batch, 784, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)
    builders = {
        "plain PyTorch, deterministic": bsc.plain_step,
        "plain PyTorch, deterministic, fused Adam": bsc.plain_step_fused,
        "plain PyTorch, matrix normal (local reparam.)": bsc.plain_mn_step,
        "plain PyTorch, mean-field (local reparam.)": bsc.plain_mf_step,
        "pyro-local AutoMatrixNormal": bsc.local_svi_step(bsc.AutoMatrixNormal),
        "pyro-local AutoMeanFieldNormal": bsc.local_svi_step(bsc.AutoMeanFieldNormal),
        "Pyro SVI AutoNormal": bsc.pyro_autonormal_step(),
        "bayesian-torch LinearReparameterization": bsc.bayesian_torch_step,
    }
    for name in ("pyro-local AutoMatrixNormal", "pyro-local AutoMeanFieldNormal"):
        guide = bsc.AutoMatrixNormal if "Matrix" in name else bsc.AutoMeanFieldNormal
        builders[name + ", validation off"] = bsc.local_svi_step(guide, validation=False)
    builders["Pyro SVI AutoNormal, validation off"] = bsc.pyro_autonormal_step(validation=False)
    if not bsc.has_bayesian_torch():
        print(
            "note: bayesian-torch is not installed (pip install --no-deps bayesian-torch); skipped"
        )
        del builders["bayesian-torch LinearReparameterization"]
    contenders = {name: build(device) for name, build in builders.items()}
    times = interleaved(contenders, (x, y), **timing)
    rows = report(f"Bayesian MLP 784-400-400-10, batch {args.batch}", times)
    wall = {r["name"]: r["ms"] for r in rows}
    cpu = {r["name"]: r["cpu_ms"] for r in rows}
    print()
    for name in (
        "pyro-local AutoMatrixNormal",
        "pyro-local AutoMeanFieldNormal",
        "Pyro SVI AutoNormal",
    ):
        off = name + ", validation off"
        print(
            f"validation's share of a step, {name}: {100 * (1 - wall[off] / wall[name]):.1f} % "
            f"(wall), {100 * (1 - cpu[off] / cpu[name]):.1f} % (CPU)"
        )
    return rows


def run_engine(args, timing, device, width=32, depth=8):
    x = torch.randn(args.batch, 784, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)
    cases = {
        "plain per-layer loop": local_loop_step,
        "Pyro-traced per-layer loop": bsc.pyro_traced_loop_step,
        "LocalSVI fused": localsvi_step("fused"),
        "LocalSVI sequential": localsvi_step("sequential"),
    }
    contenders = {n: bsc.engine_case(b)(device, width, depth) for n, b in cases.items()}
    times = interleaved(contenders, (x, y), **timing)
    rows = report(f"Deterministic local network, width {width}, {depth} layers", times)
    for r in rows[1:]:
        r["ms_per_layer_over_loop"] = (r["ms"] - rows[0]["ms"]) / depth
        r["cpu_ms_per_layer_over_loop"] = (r["cpu_ms"] - rows[0]["cpu_ms"]) / depth
        print(
            f"{r['name']}: {r['ms_per_layer_over_loop']:.3f} ms (wall), "
            f"{r['cpu_ms_per_layer_over_loop']:.3f} ms (CPU) per layer per step over the loop"
        )
    return rows


def run_hierarchy(args, timing, device):
    x = (torch.rand(args.batch, 784, device=device) < 0.3).float()
    builders = {
        "Pyro SVI Gaussian ladder VAE (same networks)": bsc.gaussian_vae_step,
        "LocalSVI rectified hierarchy, structured guide": bsc.hierarchy_local_step,
        "Pyro SVI rectified hierarchy, structured guide": bsc.hierarchy_pyro_step,
    }
    contenders = warm({n: b(device) for n, b in builders.items()}, (x,))
    saved = {n: saved_memory(k, (x,)) / 2**20 for n, k in contenders.items()}
    times = interleaved(contenders, (x,), **timing)
    base = next(iter(saved.values()))
    extra = {
        "saved MiB": {n: f"{v:.2f}" for n, v in saved.items()},
        "x first (memory)": {n: f"{v / base:.2f}" for n, v in saved.items()},
    }
    rows = report("Rectified hierarchy against a same-size VAE", times, extra)
    for r in rows:
        r["saved_mib"] = saved[r["name"]]
    return rows


def run_memory(args, timing, device):
    x = torch.randn(args.batch, 784, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)
    variants = {
        "default": {},
        "foreach=True": {"foreach": True},
        "foreach=False": {"foreach": False},
    }
    contenders = {n: bsc.one_layer_engine_step(kw)(device) for n, kw in variants.items()}
    warm(contenders, (x, y))
    peaks = {n: peak_step_memory(k, (x, y)) / 2**20 for n, k in contenders.items()}
    times = interleaved(contenders, (x, y), **timing)
    extra = {"peak MiB allocated in a step": {n: f"{v:.1f}" for n, v in peaks.items()}}
    rows = report("Adam's kernels: MLP 16 x 512 trained as one layer", times, extra)
    for r in rows:
        r["peak_mib"] = peaks[r["name"]]
    return rows


SECTIONS = {"mlp": run_mlp, "engine": run_engine, "hierarchy": run_hierarchy, "memory": run_memory}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=10, help="steps per contender per round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=list(SECTIONS))
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    pyro.set_rng_seed(0)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.machine()
    out = {
        "meta": {
            "device": name,
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
    for section in args.sections:
        out[section] = SECTIONS[section](args, timing, device)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
