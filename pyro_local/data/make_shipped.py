"""Regenerates ``pyro_local/data/shipped/fashion-mnist-small.npz`` from Debian's
Fashion-MNIST files, deterministically::

    python -m pyro_local.data.make_shipped [--source DIR] [--out FILE]

Selection rule: for each split and each class, keep the ``per_class`` examples (500 for
``train``, 100 for ``test``) with the smallest key, where an example's key is the first
8 bytes (big-endian) of ``sha256(f"{seed}:{split}:{row}")`` and ``row`` is its position
in the split's IDX files; the seed is 0. Kept examples are stored in their original
order. A hash, rather than a random number generator, makes the subset the same on
every version of NumPy and PyTorch, and is still a uniformly random choice within each
class.

Fashion-MNIST is (c) 2017 Zalando SE, under the MIT (Expat) licence; the file carries
that notice in its ``notice`` array.
"""

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

from pyro_local.data.catalog import DATASETS, IDX_FILE_NAMES, Split
from pyro_local.data.idx import read_idx
from pyro_local.data.locate import DEBIAN_DATA_ROOT
from pyro_local.data.shipped import SHIPPED_DIR

__all__ = ["build_subset", "main", "select_stratified"]

SEED = 0
PER_CLASS = {Split.TRAIN: 500, Split.TEST: 100}
NOTICE = (
    "A stratified subset of Fashion-MNIST (https://github.com/zalandoresearch/fashion-mnist).\n"
    "Copyright (c) 2017 Zalando SE, https://tech.zalando.com\n"
    "License: Expat (MIT)\n\n"
    "Permission is hereby granted, free of charge, to any person obtaining a copy of this "
    "software and associated documentation files (the \"Software\"), to deal in the Software "
    "without restriction, including without limitation the rights to use, copy, modify, "
    "merge, publish, distribute, sublicense, and/or sell copies of the Software, and to "
    "permit persons to whom the Software is furnished to do so, subject to the following "
    "conditions:\n\n"
    "The above copyright notice and this permission notice shall be included in all copies "
    "or substantial portions of the Software.\n\n"
    "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, "
    "INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A "
    "PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT "
    "HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF "
    "CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR "
    "THE USE OR OTHER DEALINGS IN THE SOFTWARE.\n"
)


def _key(seed, split, row):
    digest = hashlib.sha256(f"{seed}:{split.value}:{row}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def select_stratified(labels, per_class, seed, split):
    """
    The rows to keep from one split: for each class, the ``per_class`` rows with the
    smallest hash keys (see the module docstring).

    :param numpy.ndarray labels: the split's labels.
    :param int per_class: how many examples to keep per class.
    :param int seed: mixed into every key.
    :param Split split: mixed into every key, so the splits are chosen independently.
    :returns: the kept rows, sorted ascending, as int64.
    :raises ValueError: if a class has fewer than ``per_class`` examples.
    """
    keys = np.array([_key(seed, split, row) for row in range(len(labels))], dtype=np.uint64)
    kept = []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        if len(rows) < per_class:
            raise ValueError(
                f"per_class: expected at most {len(rows)} (the examples of class {c} in the "
                f"{split.value} split), got {per_class}"
            )
        # Ties (a 64-bit collision) would fall back on the row; lexsort's last key is primary.
        order = np.lexsort((rows, keys[rows]))
        kept.append(rows[order[:per_class]])
    return np.sort(np.concatenate(kept)).astype(np.int64)


def build_subset(source, seed=SEED, per_class=None):
    """
    Builds the arrays of the shipped subset from a folder holding the four
    Fashion-MNIST IDX files.

    :param source: the folder, e.g. ``/usr/share/datasets/fashion-mnist``.
    :type source: str or os.PathLike
    :param int seed: the selection seed.
    :param dict per_class: examples per class for each :class:`Split`; default 500
        (train) and 100 (test).
    :returns: a dict of the arrays the ``.npz`` holds.
    """
    source = Path(source)
    per_class = PER_CLASS if per_class is None else per_class
    arrays = {}
    for split in Split:
        paths = []
        for base in IDX_FILE_NAMES[split]:
            found = [p for p in (source / base, source / f"{base}.gz") if p.is_file()]
            if not found:
                raise FileNotFoundError(
                    f"source: expected {base}[.gz] in {source}; install Debian's "
                    "dataset-fashion-mnist or pass --source"
                )
            paths.append(found[0])
        images, labels = read_idx(paths[0]), read_idx(paths[1])
        rows = select_stratified(labels, per_class[split], seed, split)
        arrays[f"{split.value}_images"] = images[rows]
        arrays[f"{split.value}_labels"] = labels[rows]
        arrays[f"{split.value}_index"] = rows
        arrays[f"per_class_{split.value}"] = np.int64(per_class[split])
    arrays["seed"] = np.int64(seed)
    arrays["notice"] = np.str_(NOTICE)
    return arrays


def main(argv=None):
    info = DATASETS["fashion-mnist-small"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=str(DEBIAN_DATA_ROOT / "fashion-mnist"))
    parser.add_argument("--out", default=str(SHIPPED_DIR / info.shipped_file))
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    arrays = build_subset(args.source, seed=args.seed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
