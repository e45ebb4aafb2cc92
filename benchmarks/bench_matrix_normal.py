"""Time MatrixNormal operations for diagonal, low-rank and dense factors on CPU.

Prints a table of median wall-clock times (milliseconds) of ``log_prob`` of one
sample, ``rsample`` of one sample, and the closed-form KL to two priors: a Normal
with independent entries (``Normal(0, 1).expand([n, p]).to_event(2)``) and a matrix
normal of the same structure. Each timing builds a fresh distribution first, as an
SVI step does, so the per-distribution caches (capacitance Cholesky factors) are
included. It is a script, not a test::

    python benchmarks/bench_matrix_normal.py --threads 1 --rank 16
"""

import argparse
import statistics
import time

import pyro.distributions as dist
import torch
from torch.distributions import kl_divergence

from pyro_local.distributions import MatrixNormal


def make_params(structure, n, p, rank, dtype):
    """Random well-conditioned parameters; returns a constructor of fresh distributions."""
    loc = torch.randn(n, p, dtype=dtype)
    if structure == "diagonal":
        row, col = torch.rand(n, dtype=dtype) + 0.5, torch.rand(p, dtype=dtype) + 0.5
        return lambda: MatrixNormal.diagonal(loc, row, col, validate_args=False)
    if structure == "low_rank":
        wr, dr = torch.randn(n, rank, dtype=dtype) / rank**0.5, torch.rand(n, dtype=dtype) + 0.5
        wc, dc = torch.randn(p, rank, dtype=dtype) / rank**0.5, torch.rand(p, dtype=dtype) + 0.5
        return lambda: MatrixNormal.low_rank(loc, wr, dr, wc, dc, validate_args=False)
    lr = torch.eye(n, dtype=dtype) + 0.01 * torch.randn(n, n, dtype=dtype).tril(-1)
    lc = torch.eye(p, dtype=dtype) + 0.01 * torch.randn(p, p, dtype=dtype).tril(-1)
    return lambda: MatrixNormal(loc, lr, lc, validate_args=False)


def median_ms(fn, repeats, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def time_operations(make, make_prior, normal_prior, repeats):
    value = make().sample()
    return [
        median_ms(lambda: make().log_prob(value), repeats),
        median_ms(lambda: make().rsample(), repeats),
        median_ms(lambda: kl_divergence(make(), normal_prior), repeats),
        median_ms(lambda: kl_divergence(make(), make_prior()), repeats),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="785x400,1025x1024", help="comma-separated n x p")
    parser.add_argument("--structures", default="diagonal,low_rank,dense")
    parser.add_argument("--rank", type=int, default=16, help="rank of the low-rank factors")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dtype = getattr(torch, args.dtype)

    header = f"{'size':>10} {'structure':>10} {'log_prob':>10} {'rsample':>10} "
    header += f"{'KL Normal':>10} {'KL MN':>10}"
    print(f"# times in ms, median of {args.repeats}; {args.threads} thread(s), {args.dtype}")
    print(header)
    for size in args.sizes.split(","):
        n, p = (int(s) for s in size.split("x"))
        normal_prior = dist.Normal(torch.zeros((), dtype=dtype), 1.0).expand([n, p]).to_event(2)
        for structure in args.structures.split(","):
            make = make_params(structure, n, p, args.rank, dtype)
            make_prior = make_params(structure, n, p, args.rank, dtype)
            times = time_operations(make, make_prior, normal_prior, args.repeats)
            print(f"{size:>10} {structure:>10} " + " ".join(f"{t:10.2f}" for t in times))


if __name__ == "__main__":
    main()
