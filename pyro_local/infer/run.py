"""The training loop of :meth:`pyro_local.infer.LocalSVI.run`: epochs, progress, resume."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from tqdm.auto import tqdm

from .._checks import check_int


class RunResult(NamedTuple):
    """
    What :meth:`LocalSVI.run <pyro_local.infer.LocalSVI.run>` did.

    :param dict history: ``{layer: [loss per step]}`` over the whole run, resumed
        steps included.
    :param int steps: steps taken in total.
    :param int epochs: epochs completed.
    :param bool resumed: whether the run continued from a checkpoint.
    """

    history: dict[str, list[float]]
    steps: int
    epochs: int
    resumed: bool


def _call(svi_method, batch):
    if isinstance(batch, dict):
        return svi_method(**batch)
    if isinstance(batch, (tuple, list)):
        return svi_method(*batch)
    return svi_method(batch)


def _epoch_batches(batches, epoch):
    if callable(batches) and not hasattr(batches, "__iter__"):
        return batches(epoch)
    set_epoch = getattr(batches, "set_epoch", None)
    if set_epoch is not None:
        set_epoch(epoch)
    return batches


def run(
    svi,
    batches,
    num_epochs: int = 1,
    *,
    checkpoint: str | Path | None = None,
    checkpoint_every: int | None = None,
    resume: bool = True,
    progress: bool = True,
    extra: dict | None = None,
) -> RunResult:
    """
    The training loop of :meth:`pyro_local.infer.LocalSVI.run`, which documents it:
    ``svi.run(batches, ...)`` is ``run(svi, batches, ...)``.

    :returns: a :class:`~pyro_local.infer.RunResult`.
    """
    check_int(num_epochs, "num_epochs", 0)
    if checkpoint_every is not None:
        check_int(checkpoint_every, "checkpoint_every")
    start_epoch, skip, resumed = 0, 0, False
    if checkpoint is not None and resume and Path(checkpoint).is_file():
        if not svi.initialized:
            first = next(iter(_epoch_batches(batches, 0)), None)
            if first is None:
                raise ValueError("batches is empty: nothing to initialize the engine with")
            _call(svi.init, first)
        position = svi.load(checkpoint)
        start_epoch, skip = int(position.get("epoch", 0)), int(position.get("batch", 0))
        resumed = True

    def save(epoch, batch):
        if checkpoint is not None:
            svi.save(checkpoint, extra={**(extra or {}), "epoch": epoch, "batch": batch})

    total = None
    try:
        total = num_epochs * len(batches)
    except TypeError:
        pass
    bar = tqdm(total=total, initial=svi.step_count if total else 0, disable=not progress,
               desc="LocalSVI", unit="step", dynamic_ncols=True)
    epoch = start_epoch
    try:
        for epoch in range(start_epoch, num_epochs):
            done = 0
            for i, batch in enumerate(_epoch_batches(batches, epoch)):
                if epoch == start_epoch and i < skip:
                    continue  # consumed before the checkpoint
                info = _call(svi.step, batch)
                done = i + 1
                bar.update(1)
                if info.step % 10 == 0 or done == 1:
                    bar.set_postfix(loss=f"{info.loss:.4g}")
                if checkpoint_every and info.step % checkpoint_every == 0:
                    save(epoch, done)
            save(epoch + 1, 0)
            skip = 0
    finally:
        bar.close()
    finished = num_epochs if num_epochs > start_epoch else start_epoch
    return RunResult({k: list(v) for k, v in svi.history.items()}, svi.step_count,
                     finished, resumed)
