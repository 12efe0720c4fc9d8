"""One run on several processes with torch.distributed: under `torchrun`, or `cgan-studio train --nproc N`
(which starts torch's own elastic launcher on this machine).

Rank 0 owns everything a user sees: the run directory, the guard, grids, quality and the control folder.
Every rank trains in lock-step: rank 0 shares the commands of each loop turn (RunLoop), so a change of
learning rate, a pause or a rollback lands at the same step everywhere. NCCL on CUDA, gloo on the CPU;
the commands travel over a gloo group, so sharing them never waits for the GPU.

Data and noise: every rank follows the same seeded streams and takes its own slice of each global draw
(as DistributedSampler does with its shared permutation), so the ranks never see the same images or noise,
a checkpoint holds one set of streams, and N ranks with batch B train exactly as one process with batch
N*B would (for models without BatchNorm or dropout). Dropout masks use a per-rank generator seeded from
`seed * world + rank` and the step, so they differ between ranks and resume exactly.
"""
from __future__ import annotations

import logging
import os
import pickle
import re
import signal
import sys
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn

from cgan_core.errors import CganError, UsageError

DEFAULT_TIMEOUT = 300.0  # seconds a rank waits for the others before the run ends with an error


class RankFailure(CganError):
    """Another rank died or stopped answering: the run ends, resumable from its newest checkpoint."""


def launched() -> bool:
    """True in a process that torchrun (or --nproc) started as one rank of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@dataclass
class World:
    """This process's place in a distributed run, and the collectives the engine uses."""

    rank: int
    size: int
    local_rank: int
    device: torch.device
    control: object = None  # a gloo process group for the commands (None: the default group is gloo)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def backend(self) -> str:
        return dist.get_backend()

    def describe(self) -> str:
        return f"{self.size} ranks ({self.backend})"

    # ---- the step ---------------------------------------------------------------------------------------
    def wrap(self, module: nn.Module) -> nn.Module:
        """DDP for a training forward, with no buffer sync at each forward: D runs twice before one backward,
        and broadcasting BatchNorm buffers in between breaks autograd (pytorch#22095); buffers stay per rank
        (rank 0's at the start). `forward_sync_buffers` is torch 2.12's name for `broadcast_buffers`."""
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        no_sync = {"forward_sync_buffers": False} if "forward_sync_buffers" in _ddp_options() else {"broadcast_buffers": False}
        return DistributedDataParallel(module, device_ids=ids, **no_sync)

    def average_(self, values: torch.Tensor) -> torch.Tensor:
        """The mean over ranks, in place (ReduceOp.AVG is NCCL-only)."""
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values.div_(self.size)

    def dropout_seed(self, seed: int, step: int) -> int:
        """A per-rank, per-step seed for torch's global generator (dropout): a counter, so resume is exact."""
        return ((seed * self.size + self.rank) * 1_000_003 + step) % (2**63)

    def mine(self, draw: torch.Tensor, per_rank: int) -> torch.Tensor:
        """This rank's slice of a global draw of per_rank * size rows."""
        return draw[self.rank * per_rank:(self.rank + 1) * per_rank]

    # ---- sharing ------------------------------------------------------------------------------------------
    def share(self, value):
        """Rank 0's value on every rank (picklable plain values, commands and CPU tensors)."""
        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0, group=self.control)
        return box[0]

    def share_commands(self, items: list) -> list:
        """Rank 0's command list of one loop turn on every rank. Most turns have none: then one broadcast
        of a single integer is all it costs (the small MLP presets take ~1 ms a step)."""
        data = pickle.dumps(items) if self.is_main and items else b""
        size = torch.tensor([len(data)], dtype=torch.int64)
        dist.broadcast(size, src=0, group=self.control)
        if int(size) == 0:
            return []
        buffer = torch.frombuffer(bytearray(data), dtype=torch.uint8) if self.is_main else torch.empty(
            int(size), dtype=torch.uint8)
        dist.broadcast(buffer, src=0, group=self.control)
        return items if self.is_main else pickle.loads(buffer.numpy().tobytes())

    def barrier(self) -> None:
        dist.barrier(group=self.control)

    def leave(self, code: int) -> None:
        """End this rank's process once the run is over (every rank has passed the final barrier, or a
        collective failed). Without tearing the group down: gloo can abort a rank whose peer closed its
        sockets first (SIGABRT, seen in about one two-rank run in 30, and after every timeout), which
        would turn a finished run into a failed job."""
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _ddp_options() -> set[str]:
    import inspect

    from torch.nn.parallel import DistributedDataParallel
    return set(inspect.signature(DistributedDataParallel.__init__).parameters)


def to_cpu(value):
    """A copy of a (nested) state with every tensor on the CPU, for sharing it between ranks."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_cpu(v) for v in value)
    return value


def join(device_name: str = "auto", timeout: float = DEFAULT_TIMEOUT) -> World:
    """Join the process group torchrun described in the environment. NCCL when this run trains on CUDA,
    gloo otherwise; every collective gives up after `timeout` seconds instead of hanging for ever."""
    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())
    if cuda:
        if not torch.cuda.is_available():
            raise UsageError(f"--device: {device_name} was requested but CUDA is not available")
        if local_rank >= torch.cuda.device_count():
            raise UsageError(f"--nproc-per-node: local rank {local_rank} has no GPU "
                             f"(this machine has {torch.cuda.device_count()})")
        torch.cuda.set_device(local_rank)
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    try:
        dist.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(seconds=timeout),
                                **({"device_id": device} if cuda else {}))
    except (RuntimeError, ValueError) as exc:
        raise RankFailure(f"rank {rank} could not join the other {size - 1} rank(s): {exc}") from None
    control = dist.new_group(backend="gloo", timeout=timedelta(seconds=timeout)) if cuda else None
    return World(rank, size, local_rank, device, control)


def failure_message(world: World, exc: BaseException) -> str:
    """One line for a collective that failed: another rank died, or hung past the timeout."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = re.sub(r"^\[[^\]]*\]\s*", "", text).split(". ")[0]  # gloo's "[.../pair.cc:553] Connection closed…"
    return f"rank {world.rank} of {world.size}: another rank died or stopped answering ({text[:160]})"


def launch(nproc: int, argv: list[str], timeout: float) -> int:
    """`cgan-studio train --nproc N`: torch's elastic launcher (torchrun) with N ranks on this machine,
    each running `python -m cgan_core` with the same arguments. Returns the exit code."""
    from torch.distributed.elastic.multiprocessing import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    if not torch.cuda.is_available():  # share the cores: N ranks of one process each, not N x all cores
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # one line of ours instead
    config = parse_args(["--standalone", f"--nproc-per-node={nproc}", "--max-restarts=0", "--monitor-interval=0.5",
                         "-m", "cgan_core", *argv])
    try:
        run(config)
    except ChildFailedError as exc:
        # The cause: a rank killed by a signal, else the first to fail (the others end on its account and
        # say so themselves).
        failure = min(exc.failures.values(), key=lambda f: (f.exitcode >= 0, f.timestamp))
        code = failure.exitcode
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        print(f"cgan-studio: error: rank {failure.local_rank} of {nproc} {how}; the run ended (--resume RUN "
              "continues it from its newest checkpoint)", file=sys.stderr)
        return 2 if all(f.exitcode == 2 for f in exc.failures.values()) else 1
    except SignalException as exc:  # Ctrl-C or a scheduler's SIGTERM: rank 0 stopped every rank cleanly
        print(f"cgan-studio: {signal.Signals(exc.sigval).name}: every rank was asked to stop at the same step "
              "and finish (--resume RUN continues)", file=sys.stderr)
    return 0
