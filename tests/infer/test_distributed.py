"""Two gloo processes on CPU end with the parameters of one process on the whole batch."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "distributed_local_svi.py"


def _load_example():
    spec = importlib.util.spec_from_file_location("distributed_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_two_processes_match_one_on_the_combined_batch(tmp_path):
    # torchrun starts two gloo processes, each with half of every batch and its own
    # initial parameters (the engine broadcasts rank 0's).
    out = tmp_path / "params.pt"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
           "--nproc-per-node=2", str(EXAMPLE), "--out", str(out),
           "--modes", "fused", "sequential"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
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
