"""Deep rectified-Gaussian hierarchies on binarized Fashion-MNIST (Salimans, 2016).

Trains, on the same budget of epochs, (a) the four-layer rectified hierarchy
(300-200-100-50 units) with the structured top-down guide, (b) the same model with the
mean-field bottom-up guide, and (c) a one-layer Gaussian VAE of similar size, all
jointly from scratch with Adamax through ``LocalSVI(..., strict=False)``, on dynamically
binarized training images (a fresh Bernoulli draw per batch). Each model is then
evaluated on the statically binarized test set (one draw, seed ``--test-seed``):
test ELBO with its per-layer terms, importance-sampled log-likelihood (IWAE bound with
``--iwae-samples`` samples), active units and the fraction of exactly-zero units per
latent layer. Writes ``results.json`` and a PNG of data, reconstructions and samples
per model to ``--out``::

    python examples/rectified_hierarchy.py --epochs 10 --out runs/hierarchy
    # the recipe of docs/results.md: KL warm-up and 2 free bits per latent layer
    python examples/rectified_hierarchy.py --epochs 20 --warmup-epochs 5 --free-bits 2
    python examples/rectified_hierarchy.py --quick          # a smoke run, under a minute

Runs resume from the per-model checkpoints in ``--out``.
"""

import argparse
import json
import math
import time
from pathlib import Path

import torch
from pyro import poutine
from pyro.poutine.messenger import Messenger
from tqdm.auto import tqdm

from pyro_local.cli.hierarchy import layer_elbos
from pyro_local.data import TensorLoader, binarize_dynamic, binarize_static, load
from pyro_local.diagnostics import latent_activity
from pyro_local.guides import (
    GaussianEncoderGuide,
    MeanFieldRectifiedGuide,
    StructuredRectifiedGuide,
)
from pyro_local.infer import LocalELBO, LocalSVI, importance_log_likelihood
from pyro_local.infer.checkpoint import safe_load
from pyro_local.infer.importance import iwae_bound
from pyro_local.models import GaussianVAE, RectifiedHierarchy

VARIANTS = {
    "structured": "(a) rectified hierarchy, structured guide",
    "mean-field": "(b) rectified hierarchy, mean-field guide",
    "gaussian-vae": "(c) one-layer Gaussian VAE",
}


class KLWarmup(torch.nn.Module):
    """
    Runs ``program`` (a model or guide module) with every latent site's log-density
    scaled by ``beta``, which scales each layer's KL term and leaves the likelihood
    alone: deterministic warm-up (Sønderby et al., 2016), ``beta`` rising linearly
    from 0 to 1 over the first ``--warmup-epochs``. One ``beta`` is shared by the
    model and the guide wrappers, so the closed-form KLs (scaled by the guide site's
    scale) and any Monte Carlo terms agree.
    """

    def __init__(self, program, schedule):
        super().__init__()
        self.program = program
        self.schedule = schedule

    def forward(self, *args, **kwargs):
        with _ScaleLatents(self.schedule.beta):
            return self.program(*args, **kwargs)


class _ScaleLatents(Messenger):
    def __init__(self, beta):
        super().__init__()
        self.beta = beta

    def _process_message(self, msg):
        if msg["type"] == "sample" and not msg["is_observed"] and self.beta != 1.0:
            msg["scale"] = msg["scale"] * self.beta


class WarmupSchedule:
    """``beta = min(1, step / warmup_steps)``, advanced once per training step."""

    def __init__(self, warmup_steps):
        self.warmup_steps = warmup_steps
        self.step = 0

    @property
    def beta(self):
        return 1.0 if self.warmup_steps <= 0 else min(1.0, self.step / self.warmup_steps)


class FreeBitsELBO(LocalELBO):
    """
    The training objective with "free bits" (Kingma et al., 2016, section 5): each
    latent layer's KL term counts as at least ``nats`` per image, so that below the
    floor it exerts no pull toward the prior. A layer's term here is minus its KL
    (closed form, conditional on the layer above), so the floor is
    ``min(-KL, -nats * batch)``. Only for training: every evaluation uses the plain
    :class:`~pyro_local.infer.LocalELBO` and the IWAE bound.
    """

    def __init__(self, nats, latent_layers):
        super().__init__()
        self.nats = float(nats)
        self.latent_layers = frozenset(latent_layers)

    def layer_terms(self, model, guide, *args, **kwargs):
        terms = super().layer_terms(model, guide, *args, **kwargs)
        floor = -self.nats * args[0].shape[0]
        for layer in self.latent_layers.intersection(terms):
            total = sum(t.value for t in terms[layer])
            clamped = torch.minimum(total, total.new_tensor(floor))
            terms[layer] = [terms[layer][0]._replace(value=clamped)]
        return terms


def build(variant, latent_dims, z_dim):
    if variant == "gaussian-vae":
        model = GaussianVAE(z_dim=z_dim)
        return model, GaussianEncoderGuide(model)
    model = RectifiedHierarchy(latent_dims=latent_dims)
    guide_cls = StructuredRectifiedGuide if variant == "structured" else MeanFieldRectifiedGuide
    return model, guide_cls(model)


def batches(x, size):
    return [(x[i : i + size],) for i in range(0, len(x), size)]


def mean_se(values):
    values = torch.as_tensor(values, dtype=torch.float64)
    return float(values.mean()), float(values.std() / math.sqrt(len(values)))


@torch.no_grad()
def evaluate(model, guide, x_all, x_test, args, variant):
    """
    Test ELBO per layer on all test images; IWAE bounds, ESS and latent activity on
    ``x_test`` (the first ``--test-images``); in evaluation mode.
    """
    model.eval(), guide.eval()
    layers = layer_elbos(model, guide, x_all)
    layers_subset = layer_elbos(model, guide, x_test)
    ks = [k for k in (1, 10, 100, 1000, 5000) if k <= args.iwae_samples
          and args.iwae_samples % k == 0]
    bounds = {k: [] for k in ks}
    per_image, ess = [], []
    for (xb,) in tqdm(batches(x_test, args.iwae_batch), desc="IWAE", disable=args.no_progress):
        est = importance_log_likelihood(model, guide, xb, num_samples=args.iwae_samples,
                                        chunk_size=args.iwae_chunk)
        per_image.append(est.log_likelihood)
        ess.append(est.ess)
        for k in ks:
            bounds[k].append(iwae_bound(est.log_weights, k))
    log_lik = torch.cat(per_image)
    torch.save(log_lik, args.out / f"{variant}_iwae.pt")
    activity = latent_activity(guide, batches(x_test, 500), sites=model.latent_names,
                               num_samples=args.activity_samples)
    prior = poutine.trace(model).get_trace(batch_size=2000)
    model.train(), guide.train()
    return {
        "test_elbo": sum(layers.values()),
        "test_elbo_layers": layers,
        "test_elbo_subset": sum(layers_subset.values()),
        "iwae": mean_se(log_lik),
        "iwae_by_k": {k: mean_se(torch.cat(v)) for k, v in bounds.items()},
        "ess_mean": float(torch.cat(ess).mean()),
        "active_units": {k: [a.active_units, a.num_units] for k, a in activity.items()},
        "zero_fraction_posterior": {k: a.zero_fraction for k, a in activity.items()},
        "zero_fraction_prior": {
            k: float((prior.nodes[k]["value"] == 0).double().mean()) for k in model.latent_names
        },
    }


@torch.no_grad()
def save_grid(model, guide, x_test, path, title):
    """Test images, their reconstructions (mean of p(x | z), z ~ q) and prior samples."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    model.eval(), guide.eval()
    x = x_test[:20]
    guide_trace = poutine.trace(guide).get_trace(x)
    recon = model.image_mean(poutine.replay(model, trace=guide_trace)(x))
    samples = model.image_mean(model(batch_size=40))
    model.train(), guide.train()
    rows = [("test images", x), ("reconstructions", recon), ("samples", samples)]
    fig = Figure(figsize=(10, 8.4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    subfigs = fig.subfigures(3, 1, height_ratios=[2, 2, 4])
    for sub, (name, images) in zip(subfigs, rows):
        sub.suptitle(name, fontsize=10)
        axes = sub.subplots(len(images) // 10, 10)
        for ax, img in zip(axes.ravel(), images):
            ax.imshow(img.reshape(28, 28).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_axis_off()
    fig.suptitle(title)
    fig.savefig(path)


def run_variant(variant, train_x, test_all, test_x, args, out):
    torch.manual_seed(args.seed)
    model, guide = build(variant, tuple(args.latent_dims), args.z_dim)
    loader = TensorLoader(train_x, batch_size=args.batch_size, seed=args.seed,
                          transform=binarize_dynamic)
    schedule = WarmupSchedule(args.warmup_epochs * len(loader))
    loss = FreeBitsELBO(args.free_bits, model.latent_names) if args.free_bits > 0 else None
    svi = LocalSVI(KLWarmup(model, schedule), KLWarmup(guide, schedule), strict=False,
                   loss=loss, optim=torch.optim.Adamax, optim_args={"lr": args.lr})

    def batches_of_epoch(epoch):
        # The order and binarization depend on (seed, epoch) only, so a resumed run
        # sees the batches an uninterrupted one would.
        loader.load_state_dict({"seed": args.seed, "epoch": epoch, "batch": 0})
        for batch in loader:
            schedule.step = svi.step_count
            yield batch

    start = time.perf_counter()
    result = svi.run(batches_of_epoch, args.epochs, checkpoint=out / f"{variant}.pt",
                     progress=not args.no_progress)
    train_seconds = time.perf_counter() - start
    steps_per_epoch = len(loader)
    last = {k: sum(v[-steps_per_epoch:]) / min(len(v), steps_per_epoch) / args.batch_size
            for k, v in result.history.items()}
    start = time.perf_counter()
    metrics = evaluate(model, guide, test_all, test_x, args, variant)
    save_grid(model, guide, test_x, out / f"{variant}.png", VARIANTS[variant])
    params = sum(p.numel() for m in (model, guide) for p in m.parameters())
    return {
        "description": VARIANTS[variant],
        "parameters": params,
        "epochs": result.epochs,
        "resumed": result.resumed,
        "train_seconds_this_run": train_seconds,
        "eval_seconds": time.perf_counter() - start,
        "train_loss_last_epoch_per_image": last,
        **metrics,
    }


def paired_comparisons(out, num_images):
    """
    IWAE differences between the variants on the same test images: mean and its
    standard error over images (paired, so much smaller than either model's own).
    """
    per_image = {}
    for variant in VARIANTS:
        path = out / f"{variant}_iwae.pt"
        if path.exists():
            values = safe_load(path)
            if len(values) == num_images:
                per_image[variant] = values
    names = list(per_image)
    return {
        f"{a} - {b}": mean_se(per_image[a] - per_image[b])
        for i, a in enumerate(names) for b in names[i + 1 :]
    }


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=2e-3, help="Adamax learning rate")
    p.add_argument("--latent-dims", type=int, nargs="+", default=[300, 200, 100, 50])
    p.add_argument("--z-dim", type=int, default=50, help="latent width of the Gaussian VAE")
    p.add_argument("--warmup-epochs", type=float, default=0.0,
                   help="epochs over which the KL weight rises from 0 to 1 (0: none)")
    p.add_argument("--free-bits", type=float, default=0.0,
                   help="floor on each latent layer's KL in training, nats per image (0: off)")
    p.add_argument("--train-images", type=int, default=None, help="first N training images")
    p.add_argument("--test-images", type=int, default=2000,
                   help="first N test images for IWAE and activity (the ELBO uses all)")
    p.add_argument("--test-seed", type=int, default=0, help="seed of the static binarization")
    p.add_argument("--iwae-samples", type=int, default=1000)
    p.add_argument("--iwae-batch", type=int, default=100, help="test images per IWAE pass")
    p.add_argument("--iwae-chunk", type=int, default=100, help="samples per vectorized pass")
    p.add_argument("--activity-samples", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("runs/rectified_hierarchy"))
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: shipped subset, 1 epoch on 1000 images, 100 test images, K=20")
    args = p.parse_args(argv)
    if args.quick:
        args.dataset, args.epochs, args.train_images = "fashion-mnist-small", 1, 1000
        args.test_images = 100
        args.iwae_samples, args.iwae_chunk, args.activity_samples = 20, 20, 4
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    train_x = load(args.dataset, "train", normalize="unit", flatten=True).images
    test = load(args.dataset, "test", normalize="unit", flatten=True).images
    train_x = train_x[: args.train_images]
    if args.quick:
        test = test[: args.test_images]
    test_all = binarize_static(test, seed=args.test_seed)
    test_x = test_all[: args.test_images]
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    results["config"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    for variant in args.variants:
        results[variant] = run_variant(variant, train_x, test_all, test_x, args, args.out)
        results["comparisons"] = paired_comparisons(args.out, len(test_x))
        results_path.write_text(json.dumps(results, indent=2))
        r = results[variant]
        print(f"{variant}: test ELBO {r['test_elbo']:.2f}, IWAE(K={args.iwae_samples}) "
              f"{r['iwae'][0]:.2f} +- {r['iwae'][1]:.2f}, active {r['active_units']}, "
              f"zeros {r['zero_fraction_posterior']}")
    return results


if __name__ == "__main__":
    main()
