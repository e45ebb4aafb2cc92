"""The command line: one-line errors, train / evaluate / report / resume, the demo."""

import json
import re
import subprocess
import sys

import pytest
import torch

from pyro_local.cli.main import build_parser, main

SMALL = ["--data", "fashion-mnist-small", "--hidden", "16", "--epochs", "1",
         "--batch-size", "250", "--num-samples", "2", "--device", "cpu"]


def cli(*args, capsys=None):
    """Runs ``pyro-local args`` in this process; returns (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--no-progress", *args])
    out = capsys.readouterr() if capsys is not None else None
    return exit_info.value.code, out


@pytest.mark.parametrize(
    "args,message",
    [
        (["evaluate", "--run", "{tmp}/missing"], "missing: no such run folder"),
        (["report", "--run", "{tmp}/missing"], "missing: no such run folder"),
        (["evaluate", "--run", "{tmp}"], "no config.json here"),
    ],
)
def test_bad_input_gives_one_line_errors(tmp_path, capsys, args, message):
    code, out = cli(*[a.format(tmp=tmp_path) for a in args], capsys=capsys)
    assert code == 2
    assert out.err.startswith("pyro-local: error: ") and message in out.err
    assert "Traceback" not in out.err
    assert not (tmp_path / "missing").exists()


def test_cuda_device_without_cuda(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, out = cli("train", "--out", str(tmp_path / "r"), "--device", "cuda", capsys=capsys)
    assert code == 2 and "no CUDA device is present" in out.err


def test_argparse_errors_are_one_line_too(capsys):
    code, out = cli("train", capsys=capsys)  # --out missing
    assert code == 2 and "the following arguments are required: --out" in out.err
    assert "Traceback" not in out.err


def test_models_lists_the_recipes(capsys):
    code, out = cli("models", capsys=capsys)
    assert code == 0 and "bayes-mlp" in out.out and "local-smallconv" in out.out


def _steps(run):
    return torch.load(run / "checkpoint.pt", weights_only=True)["step"]


@pytest.mark.slow
def test_train_evaluate_report_and_resume(tmp_path, capsys):
    run = tmp_path / "run"
    code, out = cli("train", "--out", str(run), *SMALL, capsys=capsys)
    assert code == 0, out.err
    assert re.match(r"trained: 20 steps, 1 epoch \(\d+\.\d s this run\)", out.out), out.out
    assert _steps(run) == 20
    # A trained run is never overwritten by accident...
    code, out = cli("train", "--out", str(run), *SMALL, capsys=capsys)
    assert code == 2 and "pass --resume" in out.err
    # ...and resuming continues the run as configured, changing what is given.
    code, out = cli("train", "--out", str(run), "--resume", "--epochs", "2", capsys=capsys)
    assert code == 0, out.err
    assert out.out.startswith("trained: 40 steps, 2 epochs (resumed, ") and _steps(run) == 40
    code, out = cli("train", "--out", str(run), "--resume", "--lr", "0.5", capsys=capsys)
    assert code == 2 and "--lr differs: 0.001 saved, 0.5 given" in out.err

    code, out = cli("evaluate", "--run", str(run), capsys=capsys)
    assert code == 0, out.err
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["test_size"] == 1000
    assert {"nll", "ece", "brier", "auroc_flipped", "auroc_noise"} <= set(metrics)

    code, out = cli("report", "--run", str(run), capsys=capsys)
    assert code == 0, out.err
    page = (run / "report.html").read_text()
    for heading in ("Summary", "Optimisation", "Pareto k-hat", "Calibration", "Weight posteriors"):
        assert heading in page


def test_every_option_has_help():
    parser = build_parser()
    parsers = [parser, *parser._subparsers._group_actions[0].choices.values()]
    for p in parsers:
        for action in p._actions:
            assert action.help, f"{p.prog} {action.option_strings}: no help text"


@pytest.mark.slow
def test_python_dash_m_runs_the_demo(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pyro_local", "--no-progress", "demo", "--out",
         str(tmp_path / "demo"), "--epochs", "1", "--device", "cpu"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "report:" in proc.stdout and (tmp_path / "demo" / "report.html").is_file()
    assert "accuracy" in proc.stdout
