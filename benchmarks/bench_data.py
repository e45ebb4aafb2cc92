"""Timings of pyro_local.data on this machine: loading, one epoch of batches with and
without augmentation, and static binarization of the test set.

    python benchmarks/bench_data.py [--device cuda] [--dataset fashion-mnist-small]
"""

import argparse
import time

import torch

from pyro_local.data import RandomCropFlip, TensorLoader, binarize_static, load


def _timed(fn):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(1)
    train, seconds = _timed(lambda: load(args.dataset, "train", device=args.device))
    print(f"load {args.dataset} train ({len(train)} images) to {args.device}: {seconds:.2f} s")
    for transform in (None, RandomCropFlip(padding=4)):
        loader = TensorLoader(train.images, train.labels, batch_size=args.batch_size,
                              transform=transform)
        n, seconds = _timed(lambda loader=loader: sum(1 for _ in loader))
        print(f"one epoch, {n} batches of {args.batch_size}, transform={transform}: "
              f"{seconds:.2f} s ({1e3 * seconds / n:.2f} ms per batch)")
    test = load(args.dataset, "test", device=args.device)
    _, seconds = _timed(lambda: binarize_static(test.images, seed=0))
    print(f"static binarization of the test set ({len(test)} images): {seconds:.2f} s")


if __name__ == "__main__":
    main()
