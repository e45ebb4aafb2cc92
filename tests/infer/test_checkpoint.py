"""Checkpoints: atomic writes, weights_only loading, bit-for-bit resume."""

import ast
import errno
import os
import signal
from pathlib import Path

import pyro
import pytest
import torch

from pyro_local.infer import LocalSVI
from pyro_local.infer import checkpoint as ckpt
from pyro_local.infer.errors import NonFiniteParameterError
from pyro_local.infer.run import run

from .nets import make_data, make_net

KINDS = ["bayes", "stoch", "det"]
WIDTHS = [5, 7, 6, 4]


class Interrupted(Exception):
    """Stands in for a killed process (pytest reserves KeyboardInterrupt)."""


def batches(stop_after=None):
    """Four batches per epoch, their order a function of the epoch only."""
    x, y = make_data(n=48)
    count = [0]

    def epoch(e):
        order = torch.randperm(48, generator=torch.Generator().manual_seed(e))
        for i in range(4):
            if stop_after is not None and count[0] == stop_after:
                raise Interrupted
            count[0] += 1
            idx = order[i * 12 : (i + 1) * 12]
            yield x[idx], y[idx]

    return epoch


def _state(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


@pytest.mark.parametrize("mode", ["fused", "sequential"])
def test_resume_is_bit_for_bit(tmp_path, mode):
    pyro.set_rng_seed(0)
    net = make_net(KINDS, WIDTHS)
    full = run(LocalSVI(net, mode=mode), batches(), num_epochs=3, progress=False)
    expected = _state(net)

    path = tmp_path / "run.pt"
    pyro.set_rng_seed(0)
    net = make_net(KINDS, WIDTHS)
    with pytest.raises(Interrupted):  # dies during step 10; the last save was after step 9
        run(LocalSVI(net, mode=mode), batches(stop_after=9), num_epochs=3,
            checkpoint=path, checkpoint_every=3, progress=False)

    pyro.set_rng_seed(123)  # a new process: other seeds, other initial weights
    net = make_net(KINDS, WIDTHS, seed=7)
    resumed = run(LocalSVI(net, mode=mode), batches(), num_epochs=3, checkpoint=path,
                  progress=False)
    assert resumed.resumed and resumed.steps == full.steps == 12
    assert resumed.history == full.history
    actual = _state(net)
    assert actual.keys() == expected.keys()
    for k in expected:
        assert torch.equal(actual[k], expected[k]), k


def test_checkpoint_loads_with_weights_only(tmp_path):
    net = make_net(KINDS, WIDTHS)
    svi = LocalSVI(net)
    svi.step(*make_data())
    path = svi.save(tmp_path / "c.pt", extra={"epoch": 2})
    state = torch.load(path, weights_only=True)
    assert state["step"] == 1 and state["extra"] == {"epoch": 2}
    assert set(state["optimizers"]) == {"l1", "l2", "l3"}


def _saved_once(tmp_path):
    """An engine after one step, its checkpoint ``c.pt`` and that file's bytes."""
    svi = LocalSVI(make_net(["det"], [5, 3]))
    svi.step(*make_data())
    path = svi.save(tmp_path / "c.pt")
    return svi, path, path.read_bytes()


def test_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    svi, path, before = _saved_once(tmp_path)
    svi.step(*make_data())

    def dying_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.torch, "save", dying_save)
    with pytest.raises(OSError, match="disk full"):
        svi.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary left


def test_a_path_writer_fills_the_temporary_and_is_synced(tmp_path, monkeypatch):
    # h5netcdf writes to a path: the file it fills is the one that is synced and renamed.
    path = tmp_path / "data.bin"
    path.write_bytes(b"old")
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.fstat(fd).st_size),
                                                 real_fsync(fd)))

    def write(tmp):
        assert tmp.parent == tmp_path and tmp.exists() and tmp.stat().st_size == 0
        tmp.write_bytes(b"new contents")

    assert ckpt.atomic_write(path, write, to_path=True) == path
    assert path.read_bytes() == b"new contents"
    assert synced[0] == len(b"new contents")  # the data, then the folder
    assert ckpt.stale_temporaries(tmp_path) == []

    def dying(tmp):
        tmp.write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="could not write .*data.bin"):
        ckpt.atomic_write(path, dying, to_path=True)
    assert path.read_bytes() == b"new contents"
    assert [p.name for p in tmp_path.iterdir()] == ["data.bin"]


class _Stop(Exception):
    pass


def _raise_stop(signum, frame):
    raise _Stop(signum)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_a_write_takes_effect_after_it(tmp_path, signum):
    # A raising handler (Ctrl-C, the CLI's SIGTERM) must not fire inside torch.save,
    # whose zip writer would then fail in its clean-up and hide the interrupt.
    path = tmp_path / "checkpoint.pt"
    ckpt.atomic_save({"step": 1}, path)
    obj = {"step": 2, "big": torch.zeros(10_000)}

    def write(f):
        os.kill(os.getpid(), signum)  # delivered mid-write
        torch.save(obj, f)

    previous = signal.signal(signum, _raise_stop)
    try:
        with pytest.raises(_Stop):
            ckpt.atomic_write(path, write)
    finally:
        signal.signal(signum, previous)
    assert torch.load(path, weights_only=True)["step"] == 2  # written before the signal
    assert ckpt.stale_temporaries(tmp_path) == []
    assert signal.getsignal(signum) is previous


def test_load_needs_matching_structure_and_a_batch(tmp_path):
    x, y = make_data()
    svi = LocalSVI(make_net(["det", "det"], [5, 4, 3]))
    svi.step(x, y)
    path = svi.save(tmp_path / "c.pt")
    fresh = LocalSVI(make_net(["det", "det"], [5, 4, 3]))
    with pytest.raises(RuntimeError, match="pass a batch"):
        fresh.load(path)
    fresh.load(path, x, y)
    assert fresh.step_count == 1
    other = LocalSVI(make_net(["det"], [5, 3]))
    with pytest.raises(ValueError, match="differ from this engine's"):
        other.load(path, x, y)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        fresh.load(tmp_path / "missing.pt")


def test_resume_with_a_tensor_loader(tmp_path):
    # pyro_local.data.TensorLoader is positioned by set_epoch, so run() can peek at a
    # batch to initialize a fresh engine and still replay every epoch in full.
    from pyro_local.data import TensorLoader

    x, y = make_data(n=48)
    pyro.set_rng_seed(0)
    net = make_net(KINDS, WIDTHS)
    full = run(LocalSVI(net), TensorLoader(x, y, batch_size=12, seed=3), num_epochs=2,
               progress=False)
    expected = _state(net)
    path = tmp_path / "run.pt"
    pyro.set_rng_seed(0)
    run(LocalSVI(make_net(KINDS, WIDTHS)), TensorLoader(x, y, batch_size=12, seed=3),
        num_epochs=1, checkpoint=path, progress=False)
    net = make_net(KINDS, WIDTHS, seed=5)
    resumed = run(LocalSVI(net), TensorLoader(x, y, batch_size=12, seed=3), num_epochs=2,
                  checkpoint=path, progress=False)
    assert resumed.steps == full.steps == 8 and resumed.history == full.history
    for k, v in expected.items():
        assert torch.equal(_state(net)[k], v), k


def _everything(svi):
    """Every tensor and number a load could change, cloned."""
    state = svi.state_dict()
    state.pop("rng")
    return torch.utils._pytree.tree_map(
        lambda v: v.clone() if isinstance(v, torch.Tensor) else v, state
    )


def _assert_same(a, b):
    flat_a, spec_a = torch.utils._pytree.tree_flatten(a)
    flat_b, spec_b = torch.utils._pytree.tree_flatten(b)
    assert spec_a == spec_b
    for x, y in zip(flat_a, flat_b):
        assert torch.equal(x, y) if isinstance(x, torch.Tensor) else x == y


@pytest.mark.parametrize(
    "make_other",
    [
        # Same layers and parameter names, other shapes: torch's load_state_dict
        # copies the entries that fit (l2.head) before it reports the others.
        lambda: LocalSVI(make_net(["det", "det"], [5, 6, 3])),
        # Same network, another optimizer class.
        lambda: LocalSVI(make_net(["det", "det"], [5, 4, 3]), optim=torch.optim.SGD,
                         optim_args={"lr": 0.1, "momentum": 0.9}),
    ],
    ids=["shapes", "optimizer"],
)
def test_a_checkpoint_that_does_not_fit_changes_nothing(tmp_path, make_other):
    x, y = make_data()
    svi = LocalSVI(make_net(["det", "det"], [5, 4, 3]))
    svi.step(x, y)
    path = svi.save(tmp_path / "c.pt")
    other = make_other()
    for _ in range(2):
        other.step(x, y)
    before = _everything(other)
    rng = other.rng.cpu.clone()
    with pytest.raises(ValueError, match="does not fit this engine"):
        other.load(path)
    _assert_same(_everything(other), before)
    assert torch.equal(other.rng.cpu, rng)


@pytest.mark.parametrize("content,message", [
    (b"", "the file is empty"),
    (b"PK\x03\x04 truncated zip", "truncated or damaged"),
    (bytes(range(256)) * 4, "not a pyro-local checkpoint"),
])
def test_files_that_are_not_checkpoints_fail_in_one_line(tmp_path, content, message):
    path = tmp_path / "c.pt"
    path.write_bytes(content)
    with pytest.raises(ckpt.CheckpointError, match=message) as info:
        ckpt.load(path)
    assert "\n" not in str(info.value) and "weights_only" not in str(info.value)


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_is_refused_whatever_the_environment_says(tmp_path, monkeypatch):
    # torch's own message would suggest weights_only=False, which would run the payload.
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    path = tmp_path / "c.pt"
    torch.save(_Payload(tmp_path / "ran"), path)
    for loader in (ckpt.load, ckpt.safe_load):
        with pytest.raises(ckpt.CheckpointError, match="not a pyro-local checkpoint") as info:
            loader(path)
        assert "weights_only" not in str(info.value) and "could run code" in str(info.value)
    assert not (tmp_path / "ran").exists()


def test_a_full_disk_is_named_and_leaves_the_old_file(tmp_path, monkeypatch):
    svi, path, before = _saved_once(tmp_path)
    real = ckpt._create_temporary

    def to_dev_full(target):  # torch.save then fails as on a full disk
        tmp, f = real(target)
        f.close()
        return tmp, open("/dev/full", "wb")

    monkeypatch.setattr(ckpt, "_create_temporary", to_dev_full)
    with pytest.raises(OSError, match=r"could not write .*c\.pt: No space left on device") as e:
        svi.save(path)
    assert e.value.errno == errno.ENOSPC
    assert path.read_bytes() == before and ckpt.stale_temporaries(tmp_path) == []


@pytest.mark.parametrize("mode", ["fused", "sequential"])
def test_a_non_finite_update_names_the_layer_and_is_never_saved(tmp_path, mode):
    x, y = make_data()
    svi = LocalSVI(make_net(["det", "det"], [5, 4, 3]), mode=mode,
                   layer_optim_args={"l2": {"lr": float("inf")}})
    with pytest.raises(NonFiniteParameterError, match="layer 'l2' at step 1") as info:
        svi.step(x, y)
    assert info.value.layer == "l2" and info.value.names
    assert all(n.startswith("l2.") or "l2" in n for n in info.value.names)
    with pytest.raises(NonFiniteParameterError, match="layer 'l2'"):
        svi.save(tmp_path / "c.pt")
    assert list(tmp_path.iterdir()) == []


def test_an_infinite_learning_rate_is_caught_at_the_first_update():
    svi = LocalSVI(make_net(KINDS, WIDTHS), optim_args={"lr": float("inf")})
    with pytest.raises(NonFiniteParameterError, match="layer 'l1' at step 1"):
        svi.step(*make_data())


def _torch_load_calls(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
            node.func.attr == "load" and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "torch"
        ):
            yield node


def test_every_torch_load_in_the_repository_is_weights_only():
    root = Path(__file__).resolve().parents[2]
    unsafe = []
    for folder in ("pyro_local", "models", "guides", "examples", "benchmarks", "tests"):
        for path in sorted((root / folder).rglob("*.py")):
            for call in _torch_load_calls(path):
                safe = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant)
                           and k.value.value is True for k in call.keywords)
                if not safe:
                    unsafe.append(f"{path.relative_to(root)}:{call.lineno}")
    assert unsafe == [], f"torch.load without weights_only=True: {unsafe}"


def test_huge_but_finite_parameters_are_not_called_non_finite():
    from pyro_local.infer.errors import check_finite_parameters

    huge = torch.full((100,), 3e38)  # their float32 sum would overflow
    check_finite_parameters({"l1": {"w": huge}}, step=1)
    with pytest.raises(NonFiniteParameterError, match=r"layer 'l2' at step 4 .*\(b\)"):
        check_finite_parameters({"l1": {"w": huge},
                                 "l2": {"a": huge, "b": torch.tensor([0.0, float("nan")])}},
                                step=4)
