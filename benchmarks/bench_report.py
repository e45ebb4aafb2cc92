"""Time the stages of `pyro-local report` on a trained run folder, for several sizes.

For each (draws, training points, test points) the table gives the seconds of: the
posterior draws on the training points (k-hat, LOO, predictive checks), the held-out and
out-of-distribution predictions, the report itself (k-hat, LOO, checks, figures) and the
netCDF file; the first row is the CLI's default::

    pyro-local train --model bayes-lenet5 --data fashion-mnist --epochs 1 --out runs/lenet
    python benchmarks/bench_report.py --run runs/lenet --threads 2
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch


def stage(timings, name):
    class Timer:
        def __enter__(self):
            self.start = time.perf_counter()

        def __exit__(self, *exc):
            timings[name] = time.perf_counter() - self.start

    return Timer()


def main(args):
    from pyro_local import diagnostics as D
    from pyro_local.cli import commands
    from pyro_local.cli.report_data import fit_data, test_subset
    from pyro_local.cli.run_dir import RunDir

    torch.set_num_threads(args.threads)
    timings = {}
    with stage(timings, "restore"):
        cfg, job, _, _ = commands._restore(RunDir(args.run))
        test = job.test()
    print(f"{cfg.recipe} on {cfg.dataset}, {args.threads} torch threads; seconds per stage "
          f"(restoring the run and loading the data: {timings['restore']:.1f} s)\n")
    print("| draws | training points | test points | posterior draws | held-out predictions "
          "| report | netCDF | total |")
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for draws, points, test_points in args.sizes:
        t = {}
        with stage(t, "draws"):
            idata = fit_data(job, draws, points, cfg.seed, progress=False)
        with stage(t, "held-out"), torch.no_grad():
            job.report(idata, test_subset(test, test_points), {}, False)
        with stage(t, "report"):
            D.build_report(idata)
        with stage(t, "netcdf"), tempfile.TemporaryDirectory() as tmp:
            D.save_netcdf(idata, Path(tmp) / "idata.nc")
        total = sum(t.values())
        rows.append({"draws": draws, "points": points, "test_points": test_points, **t,
                     "total": total})
        print(f"| {draws} | {points} | {test_points} | {t['draws']:.1f} | {t['held-out']:.1f} "
              f"| {t['report']:.1f} | {t['netcdf']:.1f} | {total:.1f} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


def sizes(text):
    draws, points, test_points = (int(v) for v in text.split(","))
    return draws, points, test_points


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="a trained run folder")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", type=sizes, nargs="+",
                        default=[(100, 500, 1000), (200, 500, 1000), (100, 1000, 1000),
                                 (100, 500, 2000)],
                        help="draws,training points,test points")
    parser.add_argument("--json", default=None)
    main(parser.parse_args())
