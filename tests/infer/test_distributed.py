"""Two gloo processes on CPU end with the parameters of one process on the whole batch."""

import importlib.util
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "distributed_local_svi.py"


def _load_example():
    spec = importlib.util.spec_from_file_location("distributed_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torchrun(nproc, script, *args, timeout=600):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
           f"--nproc-per-node={nproc}", str(script), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.slow
@pytest.mark.parametrize("nproc", [2, 3])
def test_processes_match_one_on_the_combined_batch(tmp_path, nproc):
    # torchrun starts gloo processes, each with its shard of every batch and its own
    # initial parameters (the engine broadcasts rank 0's). With 3 processes the
    # 32 examples split unequally (10, 11, 11): each is weighted by its share.
    out = tmp_path / "params.pt"
    proc = torchrun(nproc, EXAMPLE, "--out", str(out), "--modes", "fused", "sequential")
    assert proc.returncode == 0, proc.stderr[-3000:]
    distributed = torch.load(out, weights_only=True)

    ex = _load_example()
    x, y = ex.make_data()
    for mode in ("fused", "sequential"):
        net = ex.make_net(seed=0)
        ex.train(net, x, y, len(x), steps=5, mode=mode)
        single = net.state_dict()
        assert distributed[mode].keys() == single.keys()
        for k in single:
            torch.testing.assert_close(distributed[mode][k], single[k], rtol=1e-5, atol=1e-6)


FROZEN = textwrap.dedent("""
    import sys, time
    import torch
    import torch.distributed as dist
    sys.path.insert(0, {examples!r})
    from distributed_local_svi import make_data, make_net
    from pyro_local.infer import LocalSVI
    from pyro_local.infer import distributed as ddp

    ddp.init_process_group("gloo", timeout=3)
    if dist.get_rank() == 1:
        time.sleep(60)  # frozen: never joins the first collective
    x, y = make_data()
    start = time.monotonic()
    try:
        LocalSVI(make_net()).step(x, y, len(x))
    except RuntimeError:
        print(f"rank 0 gave up after {{time.monotonic() - start:.0f}} s", flush=True)
        sys.exit(3)
""")


@pytest.mark.slow
def test_a_frozen_process_makes_the_others_fail_after_the_timeout(tmp_path):
    script = tmp_path / "frozen.py"
    script.write_text(FROZEN.format(examples=str(EXAMPLE.parent)))
    start = time.monotonic()
    proc = torchrun(2, script, timeout=120)
    assert proc.returncode != 0
    assert "rank 0 gave up after" in proc.stdout, proc.stderr[-3000:]
    assert time.monotonic() - start < 45  # not the 60 s of the frozen process
