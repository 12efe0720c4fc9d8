"""A fork's variants trained one process each, side by side, for `cgan-studio branch` on a CPU.

On two cores, three single-threaded processes trained 1.24x the images per second per variant of the
variants in turn in one process (BENCHMARKS.md, "Three ways to train a fork's variants"): small networks
use the cores better as processes than as one process's intra-op threads. The studio keeps the variants
in turn (its training thread has one core; the other is the window's).

Each process builds its variant exactly as fork.py does (from the fork's state, with its own RNG streams)
and trains it to the horizon in the same turns of CHUNK steps, so a variant trains the same steps whichever
way it runs; the parent then takes back its state, streams, rows, guard and time.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

import torch

from cgan_core.data import load_dataset
from cgan_core.processes import end_with
from cgan_core.run.fork import CHUNK, Fork, Variant, VariantSpec
from cgan_core.step.config import TrainConfig
from cgan_core.step.device import threads_each


def processes_for(fork_size: int, device: str, asked: int | None) -> int:
    """How many processes: `asked`, or (None) one per variant up to the cores on a CPU, 1 elsewhere."""
    if asked is not None:
        return max(1, min(asked, fork_size))
    cores = os.cpu_count() or 1
    return min(fork_size, cores) if cores > 1 and device in ("auto", "cpu") and not torch.cuda.is_available() else 1


def _train_variant(config: dict, spec: VariantSpec, state: dict, horizon: int, seconds: float, guard,
                   diversity, threads: int) -> dict:
    """In a child process: the variant trained to the horizon; what the parent needs to take it back."""
    torch.set_num_threads(threads)
    train = TrainConfig.from_dict(config)
    dataset = load_dataset(train.dataset, image_size=train.image_size, color=train.color)
    variant = Variant(spec, train, dataset, state, seconds, guard, diversity)
    end = int(state["step"]) + horizon
    while variant.diverged_at is None and variant.step < end:
        variant.advance(min(CHUNK, end - variant.step))
    return {"state": variant.state_dict(), "rows": variant.rows, "chunks": variant.chunks, "seconds": variant.seconds,
            "diverged_at": variant.diverged_at, "stopped_by": variant.stopped_by, "advice": variant.advice,
            "guard": variant.guard.state_dict()}


def _child_of(parent: int) -> None:
    """A variant's process ends with `parent`, and leaves Ctrl-C (sent to the terminal's whole process group)
    to it: the parent ends them and says so in one line, with no traceback from each child."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    end_with(parent)


def _take_back(variant: Variant, done: dict) -> None:
    variant.restore(done["state"], done["rows"], done["chunks"], done["seconds"], done["guard"])
    variant.diverged_at, variant.stopped_by, variant.advice = done["diverged_at"], done["stopped_by"], done["advice"]


def run_in_processes(fork: Fork, state: dict, processes: int, guard=None, on_done=lambda label: None) -> None:
    """Train every variant of `fork` to its horizon, `processes` at a time (spawned: no state shared but
    what is sent), and put each one's outcome back into the fork's variants."""
    threads = threads_each(processes)
    config = fork.variants[0].trainer.config.to_dict()
    with child_pool(processes) as pool:
        jobs = [pool.submit(_train_variant, config, v.spec, state, fork.horizon, v.base_seconds, guard,
                            fork.variants[0].diversity, threads) for v in fork.variants]
        for variant, job in zip(fork.variants, jobs):
            _take_back(variant, job.result())
            on_done(variant.spec.label)


@contextmanager
def child_pool(processes: int):
    """A spawn pool whose processes end with this one (a kill -9 of `branch` leaves none training on) and
    leave Ctrl-C to it; on Ctrl-C or a failure they are ended at once, not at their horizon."""
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"), initializer=_child_of,
                               initargs=(os.getpid(),))
    try:
        yield pool
    except BaseException:
        for process in list((pool._processes or {}).values()):  # the executor's own table of its processes
            process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
