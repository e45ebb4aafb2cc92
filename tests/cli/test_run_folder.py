"""Run folders: one writer at a time, clean stops, resume as configured, file modes."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from pyro_local.cli import commands
from pyro_local.cli.main import main
from pyro_local.infer import checkpoint as ckpt

TINY = ["--data", "fashion-mnist-small", "--hidden", "8", "--batch-size", "1000",
        "--num-samples", "2", "--device", "cpu"]
# Slow enough to be caught in the act: 500 steps per epoch.
LONG = ["--data", "fashion-mnist-small", "--hidden", "8", "--batch-size", "10",
        "--epochs", "50", "--checkpoint-every", "5", "--device", "cpu"]


def cli(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(["--no-progress", *args])
    return exit_info.value.code, capsys.readouterr()


def start_train(out, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "pyro_local", "--no-progress", "train",
                             "--out", str(out), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(condition, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out")
        time.sleep(0.1)


def checkpointed(run):
    return lambda: (run / "checkpoint.pt").is_file()


@pytest.mark.slow
def test_a_second_writer_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    first = start_train(run, *LONG)
    try:
        wait_for(checkpointed(run), first)
        config = (run / "config.json").read_bytes()
        for args in (["train", "--out", str(run), *TINY, "--hidden", "50"],
                     ["train", "--out", str(run), "--resume", "--epochs", "60"],
                     ["evaluate", "--run", str(run)]):
            code, out = cli(capsys, *args)
            assert code == 2, out.err
            assert f"{run} is in use by another pyro-local process (pid {first.pid}: train)" \
                in out.err
        assert (run / "config.json").read_bytes() == config
        assert not (run / "metrics.json").exists()
    finally:
        first.terminate()
        first.communicate(timeout=60)
    state = ckpt.load(run / "checkpoint.pt")
    assert state["extra"]["config"]["hidden"] == [8]


@pytest.mark.slow
def test_sigterm_stops_like_sigint_and_leaves_no_temporary(tmp_path):
    run = tmp_path / "run"
    proc = start_train(run, *LONG, "--checkpoint-every", "1")  # saving most of the time
    wait_for(checkpointed(run), proc)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert err.strip().splitlines()[-1] == ("pyro-local: terminated (SIGTERM); the last "
                                            "checkpoint is intact (resume with --resume)")
    assert ckpt.stale_temporaries(run) == []
    assert ckpt.load(run / "checkpoint.pt")["step"] >= 1


def test_resume_removes_stale_temporaries_and_says_so(tmp_path, capsys):
    run = tmp_path / "run"
    assert cli(capsys, "train", "--out", str(run), *TINY, "--epochs", "1")[0] == 0
    stale = run / ".checkpoint.pt.dead1234.tmp"
    stale.write_bytes(b"x" * 1000)  # what SIGKILL in the middle of a save leaves
    code, out = cli(capsys, "train", "--out", str(run), "--resume")
    assert code == 0, out.err
    assert not stale.exists() and "removed 1 temporary file(s)" in out.err


def test_resume_continues_the_run_as_configured(tmp_path, capsys):
    run = tmp_path / "run"
    assert cli(capsys, "train", "--out", str(run), *TINY, "--epochs", "2",
               "--checkpoint-every", "3")[0] == 0
    config = json.loads((run / "config.json").read_text())
    # The README's form: no flags, so nothing changes (not the default 5 epochs).
    code, out = cli(capsys, "train", "--out", str(run), "--resume")
    assert code == 0, out.err
    assert out.out.startswith("trained: 10 steps, 2 epochs (resumed, ")
    assert json.loads((run / "config.json").read_text()) == config
    # Fewer epochs than the run has done is refused, and says why.
    code, out = cli(capsys, "train", "--out", str(run), "--resume", "--epochs", "1")
    assert code == 2 and "--epochs 1: the run in" in out.err and "already trained 2" in out.err
    # A flag that may not change is named, with both values.
    code, out = cli(capsys, "train", "--out", str(run), "--resume", "--hidden", "200")
    assert code == 2 and "--hidden differs: 8 saved, 200 given" in out.err
    # Flags that may change do, and are recorded.
    code, out = cli(capsys, "train", "--out", str(run), "--resume", "--epochs", "3",
                    "--num-samples", "4")
    assert code == 0, out.err
    saved = json.loads((run / "config.json").read_text())
    assert saved == {**config, "epochs": 3, "num_samples": 4}
    assert ckpt.load(run / "checkpoint.pt")["extra"]["config"] == saved


def test_resume_without_a_run_says_so(tmp_path, capsys):
    run = tmp_path / "run"
    code, out = cli(capsys, "train", "--out", str(run), *TINY, "--epochs", "1", "--resume")
    assert code == 0, out.err
    assert f"{run} holds no run to resume: starting a new one" in out.err


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_files_follow_the_umask(tmp_path, capsys, umask):
    run = tmp_path / "run"
    previous = os.umask(umask)
    try:
        assert cli(capsys, "train", "--out", str(run), *TINY, "--epochs", "1")[0] == 0
    finally:
        os.umask(previous)
    for name in ("config.json", "checkpoint.pt", ".lock"):
        assert (run / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


@pytest.mark.slow
def test_the_demo_runs_twice(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(commands.DEMO, "report_points", 30)
    monkeypatch.setitem(commands.DEMO, "report_draws", 25)
    monkeypatch.setitem(commands.DEMO, "hidden", [8])
    monkeypatch.setitem(commands.DEMO, "num_samples", 2)
    demo = ["demo", "--out", str(tmp_path / "demo"), "--epochs", "1", "--device", "cpu"]
    code, out = cli(capsys, *demo)
    assert code == 0, out.err
    assert out.out.startswith("trained: 50 steps, 1 epoch (")
    first = torch.load(tmp_path / "demo" / "checkpoint.pt", weights_only=True)["step"]
    code, out = cli(capsys, *demo)  # `make demo` again: reports the finished demo again
    assert code == 0, out.err
    assert out.out.startswith("trained: 50 steps, 1 epoch (resumed, ") and first == 50
    assert "report:" in out.out
    # One training session in the provenance: the second demo trained nothing.
    sessions = json.loads((tmp_path / "demo" / "provenance.json").read_text())["sessions"]
    assert [(s["steps"], s["resumed"]) for s in sessions] == [(50, False)]
