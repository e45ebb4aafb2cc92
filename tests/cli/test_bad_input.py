"""Bad input on the command line: one line on stderr, exit status 2, nothing changed."""

import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pyro
import pyro.distributions
import pyro.nn
import pytest
import torch

from pyro_local.cli.main import main
from pyro_local.data.idx import write_idx
from pyro_local.infer import LocalSVI

TINY = ["--data", "fashion-mnist-small", "--hidden", "8", "--epochs", "1",
        "--batch-size", "1000", "--num-samples", "2", "--device", "cpu"]


def cli(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(["--no-progress", *args])
    out = capsys.readouterr()
    return exit_info.value.code, out


def assert_one_line_error(code, out, message):
    assert code == 2, out.err
    lines = out.err.strip().splitlines()
    assert len(lines) == 1, out.err
    assert "error: " in lines[0] and message in lines[0], lines[0]
    assert "Traceback" not in out.err and "weights_only" not in out.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny trained bayes-mlp run (5 steps), copied by the tests that damage it."""
    run = tmp_path_factory.mktemp("trained") / "run"
    with pytest.raises(SystemExit) as exit_info:
        main(["--no-progress", "train", "--out", str(run), *TINY])
    assert exit_info.value.code == 0
    return run


@pytest.fixture
def idx_root(tmp_path):
    """A data root with a small, well-formed 'mnist' whose files the tests damage."""
    folder = tmp_path / "mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 20), ("t10k", 10)):
        write_idx(folder / f"{split}-images-idx3-ubyte",
                  rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte",
                  rng.integers(0, 10, n, dtype=np.uint8))
    return tmp_path


ARGUMENTS = [
    (["--lr", "inf"], "--lr: expected a positive finite number"),
    (["--lr", "nan"], "--lr: expected a positive finite number"),
    (["--lr", "-1"], "--lr: expected a positive finite number"),
    (["--seed", "-1"], "--seed: expected an integer from 0 to 4294967295"),
    (["--seed", str(2**70)], "--seed: expected an integer from 0 to 4294967295"),
    (["--device", "meta"], "--device: expected auto"),
    (["--device", "mps"], "--device: expected auto"),
    (["--epochs", "0"], "argument --epochs: expected a positive integer"),
    (["--model", "nope"], "--model: expected one of"),
    (["--model", "no_such_package.mod:factory"], "cannot import 'no_such_package.mod'"),
    (["--rule", "lls"], "--rule: the model bayes-mlp does not use it"),
    (["--latent-dims", "5"], "--latent-dims: the model bayes-mlp does not use it"),
    (["--option", "x=1"], "--option: the model bayes-mlp does not use it"),
    (["--model", "local-smallconv", "--hidden", "5"], "--hidden: the model local-smallconv"),
    (["--data", "no-such-data"], "no-such-data"),
    (["--report-draws", "20"], "--report-draws: expected at least 21 posterior draws"),
]


@pytest.mark.parametrize("args,message", ARGUMENTS, ids=[" ".join(a) for a, _ in ARGUMENTS])
def test_bad_arguments(tmp_path, capsys, args, message):
    out_dir = tmp_path / "run"
    code, out = cli(capsys, "train", "--out", str(out_dir), *TINY, *args)
    assert_one_line_error(code, out, message)
    assert not out_dir.exists()  # nothing is created for a run refused at the start


@pytest.mark.parametrize("args,message", [
    (["--draws", "20"], "--draws: expected at least 21 posterior draws"),
    (["--points", "0"], "argument --points: expected a positive integer"),
    (["--out", "elsewhere.html"], "--out: only for a .nc file"),
])
def test_bad_report_arguments(trained, capsys, args, message):
    code, out = cli(capsys, "report", "--run", str(trained), *args)
    assert_one_line_error(code, out, message)
    assert not (trained / "report.html").exists()


def test_out_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("mine")
    code, out = cli(capsys, "train", "--out", str(f), *TINY)
    assert_one_line_error(code, out, "exists and is not a folder")
    code, out = cli(capsys, "train", "--out", str(f / "sub"), *TINY)
    assert_one_line_error(code, out, "cannot create the run folder (Not a directory)")
    assert f.read_text() == "mine"


def test_out_in_a_read_only_folder(tmp_path, capsys, monkeypatch):
    parent = tmp_path / "ro"
    parent.mkdir()
    if os.geteuid() != 0:  # a real read-only folder (root writes anywhere)
        parent.chmod(0o555)
    else:
        real_mkdir = Path.mkdir

        def mkdir(self, *args, **kwargs):
            if self.parent == parent:
                raise PermissionError(13, "Permission denied", str(self))
            return real_mkdir(self, *args, **kwargs)

        monkeypatch.setattr(Path, "mkdir", mkdir)
    try:
        code, out = cli(capsys, "train", "--out", str(parent / "run"), *TINY)
    finally:
        parent.chmod(0o755)
    assert_one_line_error(code, out, "cannot create the run folder (Permission denied)")


@pytest.mark.parametrize("damage,message", [
    (lambda b: b[: len(b) // 2], "the file is truncated"),
    (lambda b: b"\1\2" + b[2:], "expected an IDX magic number"),
    (lambda b: b"\x1f\x8b" + b[2:], "does not decompress"),
])
def test_corrupt_idx_files(idx_root, tmp_path, capsys, monkeypatch, damage, message):
    images = idx_root / "mnist" / "train-images-idx3-ubyte"
    images.write_bytes(damage(images.read_bytes()))
    monkeypatch.setenv("PYRO_LOCAL_DATA_DIR", str(idx_root))
    code, out = cli(capsys, "train", "--out", str(tmp_path / "run"),
                    *[a if a != "fashion-mnist-small" else "mnist" for a in TINY])
    assert_one_line_error(code, out, message)


def test_missing_data_is_one_line_saying_what_to_do(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PYRO_LOCAL_DATA_DIR", str(tmp_path / "empty"))
    code, out = cli(capsys, "train", "--out", str(tmp_path / "run"), "--data", "kmnist")
    assert_one_line_error(code, out, "--data kmnist: not found")
    assert "PYRO_LOCAL_DATA_DIR=DIR" in out.err and ". To use it" in out.err
    assert "root=" not in out.err and "load(" not in out.err  # no Python arguments


class _Linear(pyro.nn.PyroModule):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)

    def forward(self, x, y):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("y", pyro.distributions.Categorical(logits=self.lin(x)), obs=y)


def _other_models_checkpoint(path):
    # A checkpoint written by the engine for another model, without a configuration.
    svi = LocalSVI(_Linear())
    svi.step(torch.randn(8, 4), torch.randint(0, 3, (8,)))
    svi.save(path)


class _Payload:
    """Unpickled, it would create the file ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


CHECKPOINTS = {
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
                  "truncated or damaged"),
    "random bytes": (lambda p: p.write_bytes(np.random.default_rng(0).bytes(5000)),
                     "not a pyro-local checkpoint"),
    "empty": (lambda p: p.write_bytes(b""), "the file is empty"),
    "a pickle": (lambda p: p.write_bytes(pickle.dumps({"a": 1})),
                 "not a pyro-local checkpoint"),
    "refused pickle": (lambda p: torch.save(_Payload(p.parent / "ran"), p),
                       "not a pyro-local checkpoint"),
    "a torch file": (lambda p: torch.save([1, 2], p), "not a pyro-local checkpoint"),
    "another model's": (_other_models_checkpoint, "a checkpoint of another model"),
}


@pytest.mark.parametrize("kind", list(CHECKPOINTS))
def test_checkpoints_that_fail_to_load(trained, tmp_path, capsys, kind):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    damage, message = CHECKPOINTS[kind]
    damage(run / "checkpoint.pt")
    config = (run / "config.json").read_bytes()
    for command in (["evaluate", "--run", str(run)],
                    ["train", "--out", str(run), "--resume", "--epochs", "3"]):
        code, out = cli(capsys, *command)
        assert_one_line_error(code, out, message)
        assert not (run / "ran").exists()
    assert (run / "config.json").read_bytes() == config  # a failed resume rewrites nothing
    assert "metrics.json" not in os.listdir(run)


def test_a_checkpoint_of_another_run_is_detected(trained, tmp_path, capsys):
    # The configuration inside the checkpoint tells a folder that mixes two runs.
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    config = (run / "config.json").read_text().replace('"hidden": [\n  8\n ]',
                                                      '"hidden": [\n  9\n ]')
    assert '"hidden": [\n  9' in config
    (run / "config.json").write_text(config)
    code, out = cli(capsys, "train", "--out", str(run), "--resume", "--epochs", "2")
    assert_one_line_error(code, out, "mixes two runs: its checkpoint was trained with "
                                     "--hidden 8, its config.json says 9")


def test_a_full_disk_is_one_line(tmp_path, capsys, monkeypatch):
    from pyro_local.infer import checkpoint as ckpt

    real = ckpt._create_temporary

    def to_dev_full(target):  # writes then fail with ENOSPC, as on a full disk
        tmp, f = real(target)
        f.close()
        return tmp, open("/dev/full", "wb")

    monkeypatch.setattr(ckpt, "_create_temporary", to_dev_full)
    run = tmp_path / "run"
    code, out = cli(capsys, "train", "--out", str(run), *TINY)
    assert_one_line_error(code, out, f"could not write {run}/config.json: No space left")
    assert sorted(os.listdir(run)) == [".lock"]
