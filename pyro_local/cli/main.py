"""``pyro-local``: train, evaluate and report models of the library from the shell.

Every subcommand works on a run folder (``--out`` / ``--run``) holding
``config.json``, ``checkpoint.pt``, ``provenance.json``, ``metrics.json``,
``report.html`` and ``inference_data.nc``. Bad
arguments and missing files are reported in one line (exit status 2).
"""

from __future__ import annotations

import argparse
import json
import sys

from .. import __version__
from .config import RunConfig, RunDir, UsageError


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _add_train_args(p):
    d = RunConfig()
    p.add_argument("--model", default=d.recipe, help="a model of the library (see `models`)")
    p.add_argument("--data", default=d.dataset,
                   help="fashion-mnist (Debian's files), fashion-mnist-small (shipped), "
                        "mnist or kmnist")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=_positive_int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--mode", choices=["fused", "sequential"], default=d.mode,
                   help="how the engine steps the layers (same mathematics)")
    p.add_argument("--device", default=d.device, help="auto (best available), cpu, cuda[:N]")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--training", choices=["local", "global"], default=d.training,
                   help="Bayesian models: per-layer ELBOs with local heads, or one ELBO")
    p.add_argument("--hidden", type=_positive_int, nargs="+", default=d.hidden,
                   help="dense hidden widths")
    p.add_argument("--structure", default=d.structure,
                   help="weight posterior: diagonal, low_rank, dense (matrix normal) or "
                        "mean-field")
    p.add_argument("--rule", default=d.rule,
                   help="local-smallconv: svp, lls, greedy, contsup or backprop")
    p.add_argument("--num-samples", type=_positive_int, default=d.num_samples,
                   help="posterior draws for test predictions")
    p.add_argument("--checkpoint-every", type=_positive_int, default=d.checkpoint_every,
                   help="steps between checkpoints")


def _config(args) -> RunConfig:
    return RunConfig(
        recipe=args.model, dataset=args.data, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, mode=args.mode, device=args.device, seed=args.seed,
        training=args.training, hidden=list(args.hidden), structure=args.structure,
        rule=args.rule, num_samples=args.num_samples, checkpoint_every=args.checkpoint_every,
    ).validate()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyro-local", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"pyro-local {__version__}")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--threads", type=_positive_int, default=None,
                        help="CPU threads for torch (default: torch's choice, one per core)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    p = sub.add_parser("demo", help="train a small Bayesian MLP on the shipped data and "
                                    "write its report (the README's main job)")
    p.add_argument("--out", default="runs/demo", help="run folder to create")
    p.add_argument("--epochs", type=_positive_int, default=None)
    p.add_argument("--device", default="auto")

    p = sub.add_parser("train", help="train a model of the library on a dataset")
    p.add_argument("--out", required=True, help="run folder (created; holds the checkpoint)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    _add_train_args(p)

    p = sub.add_parser("evaluate", help="test-set metrics of a trained run")
    p.add_argument("--run", required=True, help="a run folder written by `train`")

    p = sub.add_parser("report", help="write the HTML diagnostics report of a trained run "
                                      "or of an InferenceData netCDF file")
    p.add_argument("--run", required=True,
                   help="a run folder written by `train` (report.html and inference_data.nc "
                        "are written into it), a folder holding only inference_data.nc, or "
                        "an InferenceData .nc file")
    p.add_argument("--draws", type=_positive_int, default=None,
                   help="posterior draws for k-hat, LOO and the predictive checks (default: "
                        "the run's report_draws)")
    p.add_argument("--points", type=_positive_int, default=None,
                   help="training examples for k-hat, LOO and the predictive checks "
                        "(default: the run's report_points)")
    p.add_argument("--test-points", type=_positive_int, default=1000,
                   help="test images for the held-out checks; each out-of-distribution set "
                        "has half as many")
    p.add_argument("--out", default=None,
                   help="where to write the report of a .nc file (default: beside it)")

    sub.add_parser("models", help="list the models `train` knows")
    return parser


def _print_metrics(metrics):
    for key, value in metrics.items():
        if isinstance(value, float):
            print(f"  {key:24s} {value:.4f}")
        elif not isinstance(value, dict):
            print(f"  {key:24s} {value}")


def run(argv=None) -> int:
    args = build_parser().parse_args(argv)
    progress = not args.no_progress
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    from . import commands
    from .recipes import RECIPES

    if args.command == "models":
        for recipe in RECIPES.values():
            print(f"{recipe.name:16s} {recipe.summary}")
        return 0
    if args.command == "demo":
        run_dir = RunDir(args.out)
        result = commands.demo(run_dir, epochs=args.epochs, device=args.device,
                               progress=progress)
        print(f"demo: trained {result['steps']} steps in {result['seconds']:.0f} s")
        _print_metrics({k: v for k, v in result.items() if k not in ("steps", "seconds")})
        print(f"report: {run_dir.report}")
        return 0
    if args.command == "train":
        result = commands.train(_config(args), RunDir(args.out), resume=args.resume,
                                progress=progress)
        print(json.dumps(result, indent=1))
        return 0
    if args.command == "evaluate":
        _print_metrics(commands.evaluate(RunDir(args.run)))
        return 0
    if args.command == "report":
        from pathlib import Path

        from .run_record import IDATA

        saved = Path(args.run) / IDATA  # a folder written by Python code: its data alone
        if args.run.endswith(".nc") or (saved.is_file() and not RunDir(args.run).config.exists()):
            nc = args.run if args.run.endswith(".nc") else saved
            print(f"report: {commands.report_file(nc, args.out)}")
            return 0
        if args.out is not None:
            raise UsageError("--out: only for a .nc file; a run folder's report is "
                             "written into the folder")
        run_dir = RunDir(args.run)
        commands.report(run_dir, progress=progress, draws=args.draws, points=args.points,
                        test_points=args.test_points)
        print(f"report: {run_dir.report}")
        return 0
    raise AssertionError(args.command)  # argparse allows no other command


def main(argv=None) -> None:
    """Console entry point: one-line errors for bad input, exit status 2."""
    from ..data import DatasetNotFoundError

    try:
        code = run(argv)
    except (UsageError, DatasetNotFoundError, FileNotFoundError) as e:
        message = str(e).strip().splitlines()
        print(f"pyro-local: error: {message[0] if message else type(e).__name__}",
              file=sys.stderr)
        if len(message) > 1 and isinstance(e, DatasetNotFoundError):
            print("pyro-local: " + " ".join(m.strip() for m in message[1:]), file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print("pyro-local: interrupted; the last checkpoint is intact (resume with --resume)",
              file=sys.stderr)
        code = 130
    sys.exit(code)
