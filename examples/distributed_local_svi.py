"""Data-parallel local training with torchrun.

Each process trains the same two-layer network on its own shard of every batch; the
engine combines each layer's gradients over processes, each weighted by its share of
the batch, so all processes take the same steps as one process would on the combined
batch, whether the shards are equal or not (32 examples on 3 processes: 10, 11, 11).

Run::

    torchrun --standalone --nproc-per-node=2 examples/distributed_local_svi.py --out params.pt

The first process writes the trained parameters (one set per ``--modes`` entry) to
``--out``. A process that stops responding makes the others raise after
``--timeout`` seconds instead of blocking them forever.
"""

import argparse

import pyro
import pyro.distributions as dist
import torch
import torch.distributed as tdist
from pyro.infer.autoguide import AutoNormal
from pyro.nn import PyroModule, PyroSample

from pyro_local.infer import LocalSVI
from pyro_local.infer import distributed as ddp
from pyro_local.nn import LocalNet


class Block(PyroModule):
    """A Bayesian weight matrix and a local classification head on the label."""

    def __init__(self, d_in, d_out, num_classes=3, bayesian=True):
        super().__init__()
        if bayesian:
            self.weight = PyroSample(dist.Normal(0.0, 1.0).expand([d_in, d_out]).to_event(2))
        else:
            self.weight = torch.nn.Parameter(torch.randn(d_in, d_out) * 0.3)
        self.head = torch.nn.Linear(d_out, num_classes)

    def forward(self, h, y, num_data):
        a = torch.tanh(h @ self.weight)
        # The plate scales the likelihood to the whole data set (num_data / batch), so
        # the mean of the processes' gradients is the gradient on the combined batch.
        # Passing the subsample explicitly keeps the plate from drawing random indices.
        with pyro.plate("data", num_data, subsample=torch.arange(h.shape[0])):
            pyro.sample("y", dist.Categorical(logits=self.head(a)), obs=y)
        return a


def make_net(seed=0):
    torch.manual_seed(seed)
    b1, b2 = Block(5, 8), Block(8, 6, bayesian=False)
    return LocalNet({"l1": b1, "l2": b2}, guides={"l1": AutoNormal(b1, init_scale=0.05)})


def make_data(n=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 5, generator=g), torch.randint(0, 3, (n,), generator=g)


def train(net, x, y, num_data, steps, mode):
    # seed=0: every process draws the same weight samples
    svi = LocalSVI(net, mode=mode, optim_args={"lr": 0.05}, seed=0)
    for _ in range(steps):
        svi.step(x, y, num_data)
    return svi


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument(
        "--modes", nargs="+", default=["sequential"], choices=["fused", "sequential"]
    )
    parser.add_argument("--num-data", type=int, default=32, help="examples in all shards")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds a collective waits for an unresponsive process")
    args = parser.parse_args()
    ddp.init_process_group("gloo", timeout=args.timeout)
    rank, world = tdist.get_rank(), tdist.get_world_size()
    x, y = make_data(args.num_data)
    shard = slice(rank * len(x) // world, (rank + 1) * len(x) // world)
    results = {}
    for mode in args.modes:
        net = make_net(seed=rank)  # different inits: the engine broadcasts rank 0's
        svi = train(net, x[shard], y[shard], len(x), args.steps, mode)
        assert svi.distributed
        results[mode] = {k: v.detach() for k, v in net.state_dict().items()}
    if rank == 0:
        torch.save(results, args.out)
    ddp.shutdown()  # a barrier first: no process tears down a connection another still uses


if __name__ == "__main__":
    main()
