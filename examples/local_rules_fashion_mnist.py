"""Local learning rules against backprop on Fashion-MNIST: accuracy, time, memory.

Every method trains the same network (same initial weights), with the same data,
augmentation (for CNNs: random crop with 4 pixels of padding and horizontal flips, done
on the data's device; none for the MLP), optimizer, learning rate and its schedule,
batch size and number of epochs:

- ``backprop``: the network end to end under LocalSVI (one layer: the whole net);
- ``torch-backprop``: the same, as a plain PyTorch loop (the throughput reference);
- ``torch-greedy``: greedy linear heads as a plain PyTorch loop (the local baseline);
- ``greedy`` / ``greedy-conv``: greedy local learning with linear / small conv heads;
- ``svp``: Stochastic Variational Propagation (fixed projections, alignment);
- ``lls``, ``lls-square``, ``lls-m``, ``lls-mxm``: LLS and its variants;
- ``contsup`` (ContSup[E]) and ``contsup-r1e`` (ContSup[R1E]), with linear heads, and
  ``contsup-conv``: ContSup[E] with the paper's small conv heads.

For each it prints and writes (``--json``) the test accuracy after every epoch, the
training time per epoch, examples per second, the peak bytes of tensors saved for
backward in one training step (activation memory, measured with saved-tensor hooks)
and the process's peak resident memory (run one method per process to read it per
method).

Usage::

    python examples/local_rules_fashion_mnist.py --quick            # < 1 minute
    python examples/local_rules_fashion_mnist.py --network small_conv --epochs 3 \\
        --methods backprop greedy svp lls --json results.json
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import pyro
import torch
from tqdm.auto import tqdm

from pyro_local.data import RandomCropFlip, TensorLoader, load
from pyro_local.infer import LocalSVI
from pyro_local.infer.memory import SavedTensorMeter
from pyro_local.models import mlp, small_conv, small_vit, vgg8
from pyro_local.nn import LLS, SVP, ContSup, GreedyHeads, backprop_net, local_net, predict
from pyro_local.nn.features import pool_features, pooled_dim

NETWORKS = {"small_conv": small_conv, "mlp": mlp, "vgg8": vgg8, "vit": small_vit}


def svp_rule(args):
    return SVP(proj_dim=args.svp_proj_dim or None, noise=args.svp_noise,
               noise_scale=args.svp_noise_scale, alignment_weight=args.svp_alignment,
               readout=args.svp_readout)


METHODS = {
    "greedy": lambda a: (GreedyHeads("linear"), None),
    "greedy-conv": lambda a: (GreedyHeads("conv"), None),
    "svp": lambda a: (svp_rule(a), None),
    "lls": lambda a: (LLS("cosine"), None),
    "lls-square": lambda a: (LLS("square"), None),
    "lls-m": lambda a: (LLS("cosine", variant="m"), None),
    "lls-mxm": lambda a: (LLS("cosine", variant="mxm"), None),
    "contsup": lambda a: (GreedyHeads("linear"), ContSup(input=True)),
    "contsup-r1e": lambda a: (GreedyHeads("linear"), ContSup(input=True, residual=1)),
    "contsup-conv": lambda a: (GreedyHeads("conv"), ContSup(input=True)),
}
ALL_METHODS = ["backprop", "torch-backprop", "torch-greedy", *METHODS]



class TorchBackprop:
    """Plain PyTorch end-to-end training of a Stack: the throughput reference."""

    def __init__(self, stack, lr):
        self.stack = stack
        self.opt = torch.optim.Adam(stack.parameters(), lr=lr)

    def step(self, x, y):
        loss = torch.nn.functional.cross_entropy(self.stack(x), y, reduction="sum")
        loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return loss


class TorchGreedy:
    """
    Greedy local learning as a plain PyTorch loop: every block reads its input detached
    and trains with a linear head on its pooled output; the classifier reads the last
    block's output detached. The heads are made right after the stack, in block order,
    as :class:`~pyro_local.nn.GreedyHeads` makes them, so both start from the same weights.
    """

    def __init__(self, stack, lr):
        self.stack = stack
        self.heads = torch.nn.ModuleList(
            torch.nn.Linear(pooled_dim(stack.shapes[n], stack.pools[n]), stack.num_classes)
            for n in stack.names
        ).to(next(stack.parameters()).device)
        params = [*stack.parameters(), *self.heads.parameters()]
        self.opt = torch.optim.Adam(params, lr=lr)  # per-parameter state: per-layer Adams

    def step(self, x, y):
        loss, h = 0.0, x
        for name, head in zip(self.stack.names, self.heads):
            h = self.stack.blocks[name](h.detach())
            logits = head(pool_features(h, self.stack.pools[name]))
            loss = loss + torch.nn.functional.cross_entropy(logits, y, reduction="sum")
        logits = self.stack.classifier(h.detach())
        loss = loss + torch.nn.functional.cross_entropy(logits, y, reduction="sum")
        loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return loss


def build(method, args, device):
    """``(module, step, forward, optimizers)``; ``optimizers()`` lists the torch
    optimizers once the first step has made them."""
    torch.manual_seed(args.seed)  # the same initial weights for every method
    stack = NETWORKS[args.network](**network_kwargs(args)).to(device)
    if method in ("torch-backprop", "torch-greedy"):
        trainer = (TorchBackprop if method == "torch-backprop" else TorchGreedy)(stack, args.lr)
        return stack, trainer.step, lambda x: stack(x), lambda: [trainer.opt]
    net = backprop_net(stack) if method == "backprop" else local_net(
        stack, *METHODS[method](args), seed=args.seed)
    net = net.to(device)
    svi = LocalSVI(net, mode=args.mode, optim_args={"lr": args.lr})
    return net, svi.step, lambda x: predict(net, x), lambda: list(svi.optimizers.values())


def schedulers(optimizers, args, steps_per_epoch):
    """Cosine decay of every optimizer's learning rate to 0 over the run, stepped per
    batch (``--schedule cosine``), or none."""
    if args.schedule == "constant":
        return []
    total = args.epochs * steps_per_epoch
    return [torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total) for o in optimizers]


def network_kwargs(args):
    kwargs = {"num_classes": 10}
    if args.network == "mlp":
        kwargs["hidden"] = tuple(args.mlp_hidden)
    elif args.network == "vgg8":
        kwargs.update(width=args.width, depth_multiplier=args.depth_multiplier)
    elif args.network == "small_conv":
        kwargs["width"] = args.width
    return kwargs


@torch.no_grad()
def accuracy(module, forward, images, labels, batch_size=1000):
    module.eval()
    correct = 0
    for i in range(0, len(labels), batch_size):
        logits = forward(images[i:i + batch_size])
        correct += (logits.argmax(-1) == labels[i:i + batch_size]).sum().item()
    module.train()
    return correct / len(labels)


def run_method(method, args, train, test, device):
    module, step, forward, optimizers = build(method, args, device)
    loader = TensorLoader(train.images, train.labels, batch_size=args.batch_size, seed=args.seed,
                          drop_last=True, transform=augmentation(args))
    x0, y0 = next(iter(loader))  # the first batch (consumed here, replayed below)
    loader.load_state_dict({"seed": args.seed, "epoch": 0, "batch": 0})
    pyro.set_rng_seed(args.seed)
    step(x0, y0)  # warm-up: builds optimizers; not counted in the timings
    with SavedTensorMeter() as meter:
        step(x0, y0)
    lr_schedules = schedulers(optimizers(), args, len(loader))
    epochs = []
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        for x, y in tqdm(loader, desc=f"{method} epoch {epoch + 1}", leave=False,
                         disable=not args.progress):
            step(x, y)
            for schedule in lr_schedules:
                schedule.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
        acc = accuracy(module, forward, test.images, test.labels)
        epochs.append({"epoch": epoch + 1, "seconds": seconds, "test_accuracy": acc,
                       "examples_per_s": len(loader) * args.batch_size / seconds})
        print(f"{method:15s} epoch {epoch + 1:3d}  test acc {100 * acc:6.2f}%  "
              f"{seconds:7.1f} s  {epochs[-1]['examples_per_s']:8.0f} ex/s", flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB (Linux)
    return {"method": method, "epochs": epochs,
            "final_test_accuracy": epochs[-1]["test_accuracy"] if epochs else None,
            "seconds_per_epoch": sum(e["seconds"] for e in epochs) / max(1, len(epochs)),
            "saved_activation_mib": meter.peak / 2**20, "peak_rss_mib": rss}


def source_commit():
    """The git commit of the code that ran (with ``+dirty`` for uncommitted changes), or None."""
    here = ["git", "-C", str(Path(__file__).resolve().parent)]
    try:
        commit = subprocess.run([*here, "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run([*here, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty else "")


#: Random crop + flip is the CNNs' augmentation (LLS's recipe); a fully connected
#: network has no translation invariance to exploit, and its reference (plain PyTorch,
#: 89.1 % after 15 epochs) trains on the images as they are.
DEFAULT_AUGMENT = {"small_conv": "crop-flip", "vgg8": "crop-flip", "vit": "crop-flip",
                   "mlp": "none"}


def augmentation(args):
    if args.augment == "none":
        return None
    mean, std = 0.2860, 0.3530  # pad with black, as torchvision pads before normalising
    return RandomCropFlip(padding=4, fill=-mean / std)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n", 2)[2])
    p.add_argument("--network", choices=sorted(NETWORKS), default="small_conv")
    p.add_argument("--methods", nargs="+", choices=ALL_METHODS,
                   default=["backprop", "greedy", "svp", "lls", "contsup"])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate, every layer")
    p.add_argument("--schedule", choices=["constant", "cosine"], default="constant",
                   help="the learning rate: constant, or cosine decay to 0 over the run")
    p.add_argument("--mode", choices=["fused", "sequential"], default="sequential")
    p.add_argument("--dataset", default="fashion-mnist",
                   help="fashion-mnist (installed files) or fashion-mnist-small (shipped)")
    p.add_argument("--train-subset", type=int, default=None, help="use the first N examples")
    p.add_argument("--augment", choices=["crop-flip", "none"], default=None,
                   help="random crop (4 px) + flip, or none (default: crop-flip for CNNs "
                        "and ViT, none for the MLP)")
    p.add_argument("--width", type=float, default=1.0, help="width multiplier (CNNs)")
    p.add_argument("--depth-multiplier", type=int, default=1, help="VGG conv repeats")
    p.add_argument("--mlp-hidden", type=int, nargs="+", default=[1024, 1024, 1024])
    p.add_argument("--svp-proj-dim", type=int, default=512,
                   help="SVP projection dimension d0 (default 512; 0: C, read directly)")
    p.add_argument("--svp-readout", choices=["linear", "identity"], default=None,
                   help="SVP likelihood readout (default: identity when d0 = C, else linear)")
    p.add_argument("--svp-noise", default="multiplicative")
    p.add_argument("--svp-noise-scale", type=float, default=0.1)
    p.add_argument("--svp-alignment", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: shipped subset, 1 epoch, 512 examples, small widths")
    args = p.parse_args(argv)
    if args.augment is None:
        args.augment = DEFAULT_AUGMENT[args.network]
    if args.quick:
        args.dataset, args.epochs, args.train_subset = "fashion-mnist-small", 1, 512
        args.width, args.mlp_hidden = 0.25, [64, 64]
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    train = load(args.dataset, "train", device=device, normalize="standardize")
    test = load(args.dataset, "test", device=device, normalize="standardize")
    images, labels = train.images, train.labels
    if args.train_subset:
        images, labels = images[:args.train_subset], labels[:args.train_subset]
    train = type("Split", (), {"images": images, "labels": labels})
    results = [run_method(m, args, train, test, device) for m in args.methods]
    print("\n| method | test acc % | s/epoch | ex/s | saved-activation MiB | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for r in results:
        eps = r["epochs"][-1]["examples_per_s"] if r["epochs"] else float("nan")
        acc = 100 * r["final_test_accuracy"] if r["epochs"] else float("nan")
        print(f"| {r['method']} | {acc:.2f} | {r['seconds_per_epoch']:.1f} | {eps:.0f} | "
              f"{r['saved_activation_mib']:.1f} | {r['peak_rss_mib']:.0f} |")
    meta = {"argv": sys.argv, "args": vars(args), "device": str(device),
            "machine": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "pyro": pyro.__version__, "train_examples": len(labels), "commit": source_commit()}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=1)
    return results


if __name__ == "__main__":
    main()
