"""``pyro-local``: train, evaluate and report models from the shell.

Every subcommand works on a run folder (``--out`` / ``--run``) holding
``config.json``, ``checkpoint.pt``, ``provenance.json``, ``metrics.json``,
``report.html`` and ``inference_data.nc`` (see :mod:`pyro_local.cli.run_dir`). Bad
arguments, missing or damaged files are reported in one line (exit status 2); a
training that diverges stops with one line naming the layer (exit status 1);
SIGINT and SIGTERM stop it with the last checkpoint intact (exit status 130, 143).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys

from .. import __version__
from .config import DEVICE_HELP, RunConfig
from .errors import UsageError
from .model_spec import parse_option
from .report_data import TEST_POINTS
from .run_dir import RunDir


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _integer(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


#: train's flags: (flag, RunConfig field, argparse keywords). No flag has an argparse
#: default, so the flags given explicitly are known: on --resume only they change.
_D = RunConfig()
TRAIN_FLAGS = [
    ("--model", "recipe", dict(help="a model of the library (see `pyro-local models`) or "
                                    f"your own factory, package.module:function (default "
                                    f"{_D.recipe})")),
    ("--data", "dataset", dict(help="fashion-mnist (Debian's files), fashion-mnist-small "
                                    "(shipped in the package), mnist or kmnist; a factory "
                                    f"interprets it itself (default {_D.dataset})")),
    ("--epochs", "epochs", dict(type=_positive_int, help="passes over the training data "
                                                         f"(default {_D.epochs})")),
    ("--batch-size", "batch_size", dict(type=_positive_int, help="examples per step "
                                                                 f"(default {_D.batch_size})")),
    ("--lr", "lr", dict(type=float, help="learning rate, positive and finite (default: the "
                                         "model's, 1e-3 for the built-in classifiers)")),
    ("--mode", "mode", dict(choices=["fused", "sequential"],
                            help="how the engine steps the layers: all at once, or one "
                                 f"at a time (same mathematics; default {_D.mode})")),
    ("--device", "device", dict(help=f"{DEVICE_HELP} (default {_D.device})")),
    ("--seed", "seed", dict(type=_integer, help="seed of the initialization, the batch "
                                                "order and the draws, 0 to 2**32-1 "
                                                f"(default {_D.seed})")),
    ("--training", "training", dict(choices=["local", "global"],
                                    help="Bayesian classifiers: per-layer ELBOs with local "
                                         f"heads, or one ELBO (default {_D.training})")),
    ("--hidden", "hidden", dict(type=_positive_int, nargs="+",
                                help="dense hidden widths (default: the model's own, "
                                     "see `pyro-local models`)")),
    ("--structure", "structure", dict(help="Bayesian classifiers' weight posterior: diagonal, "
                                           "low_rank, dense (matrix normal) or mean-field "
                                           f"(default {_D.structure})")),
    ("--rule", "rule", dict(help="local-smallconv's local rule: svp, lls, greedy, contsup "
                                 "(linear heads), greedy-conv, contsup-conv (conv heads, "
                                 f"more accurate) or backprop (default {_D.rule})")),
    ("--latent-dims", "latent_dims", dict(type=_positive_int, nargs="+",
                                          help="rectified hierarchy: latent widths, largest "
                                               "next to the data (default: the model's own)")),
    ("--num-samples", "num_samples", dict(type=_positive_int,
                                          help="posterior draws per test prediction (IWAE "
                                               "samples for generative models; default "
                                               f"{_D.num_samples})")),
    ("--checkpoint-every", "checkpoint_every", dict(type=_positive_int,
                                                    help="steps between checkpoints (also at "
                                                         "each epoch's end; default "
                                                         f"{_D.checkpoint_every})")),
    ("--report-draws", "report_draws", dict(type=_positive_int,
                                            help="guide draws for the report's k-hat and LOO "
                                                 f"(default {_D.report_draws})")),
    ("--report-points", "report_points", dict(type=_positive_int,
                                              help="training examples for the report's LOO "
                                                   f"(default {_D.report_points})")),
    ("--option", "options", dict(action="append", metavar="NAME=VALUE",
                                 help="a keyword argument of a factory model (repeatable; "
                                      "VALUE read as JSON when it parses)")),
]


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in one line too."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pyro-local", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"pyro-local {__version__}")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--threads", type=_positive_int, default=None,
                        help="CPU threads for torch (default: torch's choice, one per core)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command",
                                help="what to do (each has its own --help)")

    p = sub.add_parser("demo", help="train a small Bayesian MLP on the shipped data and "
                                    "write its report (the README's main job)")
    p.add_argument("--out", default="runs/demo",
                   help="run folder (default runs/demo); run again, the demo there "
                        "continues, or is reported again when complete")
    p.add_argument("--epochs", type=_positive_int, default=None,
                   help="passes over the shipped training subset (default 20)")
    p.add_argument("--device", default="auto", help=f"{DEVICE_HELP} (default auto)")

    p = sub.add_parser("train", help="train a model on a dataset into a run folder")
    p.add_argument("--out", required=True, help="run folder (created; holds the checkpoint)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out as it was configured; flags given "
                        "explicitly change it where they may (--epochs, --device, ...)")
    for name, _, kwargs in TRAIN_FLAGS:
        p.add_argument(name, default=None, **kwargs)

    p = sub.add_parser("evaluate", help="test-set metrics of a trained run (metrics.json)")
    p.add_argument("--run", required=True, help="a run folder written by `train`")

    p = sub.add_parser("report", help="write the HTML diagnostics report of a trained run "
                                      "or of an InferenceData netCDF file")
    p.add_argument("--run", required=True,
                   help="a run folder written by `train` or pyro_local.cli.save_run "
                        "(report.html and inference_data.nc are written into it), a folder "
                        "holding only inference_data.nc, or an InferenceData .nc file")
    p.add_argument("--draws", type=_positive_int, default=None,
                   help="posterior draws for k-hat, LOO and the predictive checks (default: "
                        "the run's report_draws)")
    p.add_argument("--points", type=_positive_int, default=None,
                   help="training examples for k-hat, LOO and the predictive checks "
                        "(default: the run's report_points)")
    p.add_argument("--test-points", type=_positive_int, default=None,
                   help="test examples for the held-out checks (default "
                        f"{TEST_POINTS}); a classifier's out-of-distribution sets have half "
                        "as many each")
    p.add_argument("--out", default=None,
                   help="where to write the report of a .nc file (default: beside it)")

    sub.add_parser("models", help="list the models `train` knows")
    return parser


def explicit_flags(args) -> dict:
    """The RunConfig fields given on the command line."""
    flags = {}
    for name, field, _ in TRAIN_FLAGS:
        value = getattr(args, name.lstrip("-").replace("-", "_"))
        if value is None:
            continue
        if field == "options":
            value = dict(parse_option(v) for v in value)
        flags[field] = list(value) if isinstance(value, list) and field != "options" else value
    return flags


def _print_metrics(metrics, prefix=""):
    for key, value in metrics.items():
        if isinstance(value, dict):
            _print_metrics(value, prefix=f"{prefix}{key}.")
        elif isinstance(value, float):
            print(f"  {prefix + key:32s} {value:.4g}")
        elif value is not None:
            print(f"  {prefix + key:32s} {value}")


def _print_trained(result):
    how = "resumed, " if result["resumed"] else ""
    epochs = f"{result['epochs']} epoch" + ("s" if result["epochs"] != 1 else "")
    print(f"trained: {result['steps']} steps, {epochs} ({how}"
          f"{result['seconds']:.1f} s this run)")
    _print_metrics({"final_layer_losses": result["final_layer_losses"]})


def run(argv=None) -> int:
    args = build_parser().parse_args(argv)
    progress = not args.no_progress
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    from . import commands
    from .jobs import model_summaries

    if args.command == "models":
        for name, summary in model_summaries():
            print(f"{name:20s} {summary}")
        return 0
    if args.command == "demo":
        run_dir = RunDir(args.out)
        result = commands.demo(run_dir, epochs=args.epochs, device=args.device,
                               progress=progress)
        _print_trained(result)
        _print_metrics({k: v for k, v in result.items()
                        if k not in ("steps", "seconds", "epochs", "resumed",
                                     "final_layer_losses")})
        print(f"report: {run_dir.report}")
        return 0
    if args.command == "train":
        result = commands.train(RunDir(args.out), explicit_flags(args), resume=args.resume,
                                progress=progress)
        _print_trained(result)
        return 0
    if args.command == "evaluate":
        _print_metrics(commands.evaluate(RunDir(args.run)))
        return 0
    if args.command == "report":
        nc = commands.netcdf_of(args.run)  # a .nc file, or a folder of Python's data
        if nc is not None:
            given = [f for f in ("draws", "points", "test_points") if getattr(args, f)]
            if given:  # the file's draws are made: nothing to choose
                raise UsageError(f"--{given[0].replace('_', '-')}: only for a run folder; "
                                 f"{nc} holds its draws already")
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


class Terminated(KeyboardInterrupt):
    """SIGTERM (what schedulers send), raised where the process is, as SIGINT is."""


def _raise_terminated(signum, frame):
    raise Terminated


@contextlib.contextmanager
def _sigterm_as_interrupt():
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def not_found_line(e) -> str:
    """A missing dataset in one line, with what to do on the command line."""
    from ..data.catalog import DATASETS
    from ..data.locate import ENV_VAR

    places = "; ".join(
        f"{p.folder} (" + ("missing " + ", ".join(p.missing) if p.folder.is_dir()
                           else "folder does not exist") + ")"
        for p in e.searched)
    name = e.searched[-1].folder.name if e.searched else "the dataset"
    info = DATASETS.get(name)
    install = f"install Debian's {info.debian_package} package, or " if (
        info and info.debian_package) else ""
    small = "; --data fashion-mnist-small needs no installed data" if name.startswith(
        "fashion-mnist") else ""
    return (f"--data {name}: not found (searched {places}). To use it, {install}put its four "
            f"IDX files in DIR/{name}/ and set {ENV_VAR}=DIR{small}.")


def error_message(e: BaseException) -> tuple[str, int] | None:
    """The one line and exit status for an error a user can act on, else ``None``."""
    from ..data import CorruptDatasetError, DatasetNotFoundError
    from ..infer import NonFiniteLossError, NonFiniteParameterError
    from ..infer.checkpoint import CheckpointError

    if isinstance(e, DatasetNotFoundError):
        return not_found_line(e), 2
    if isinstance(e, (UsageError, CorruptDatasetError, CheckpointError)):
        return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__, 2
    if isinstance(e, OSError):  # a full disk, a read-only folder, a missing file
        if e.strerror and e.filename:
            return f"{e.filename}: {e.strerror}", 2
        return e.strerror or str(e), 2
    if isinstance(e, (NonFiniteLossError, NonFiniteParameterError)):
        return (f"training stopped: {e}; the last checkpoint holds the last finite state",
                1)
    return None


def main(argv=None) -> None:
    """Console entry point: one-line errors (see the module docstring)."""
    try:
        with _sigterm_as_interrupt():
            code = run(argv)
    except Terminated:
        print("pyro-local: terminated (SIGTERM); the last checkpoint is intact (resume "
              "with --resume)", file=sys.stderr)
        code = 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("pyro-local: interrupted; the last checkpoint is intact (resume with --resume)",
              file=sys.stderr)
        code = 130
    except Exception as e:
        known = error_message(e)
        if known is None:
            raise
        message, code = known
        print(f"pyro-local: error: {message}", file=sys.stderr)
    sys.exit(code)
