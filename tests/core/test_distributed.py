"""Distributed runs on the CPU: gloo, two processes, every test under a timeout (a collective that one
rank skips would otherwise block for ever)."""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from cgan_core.run import commands as cmd
from cgan_core.run.events import Progress
from cgan_core.run.loop import RunLoop, train
from cgan_core.run.training_run import TrainingRun
from cgan_core.step.config import TrainConfig

TIMEOUT = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(fn, *args, ranks: int = 2) -> None:
    """Run fn(rank, port, *args) on `ranks` processes; fail (and kill them) past TIMEOUT."""
    port = _free_port()
    context = mp.start_processes(fn, args=(port, *args), nprocs=ranks, join=False, start_method="spawn")
    deadline = time.monotonic() + TIMEOUT
    try:
        while not context.join(timeout=1):
            if time.monotonic() > deadline:
                pytest.fail(f"the {ranks} ranks did not finish within {TIMEOUT} s")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()


def _join(rank: int, port: int, ranks: int = 2):
    from cgan_core.step import distributed

    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(ranks), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    return distributed.join("cpu", timeout=60)


def _record(loop: RunLoop, trainer) -> list[tuple[int, float]]:
    """(step, lr_g) after every step this rank took."""
    return [(e.step, trainer.hparams["lr_g"]) for e in loop.events() if isinstance(e, Progress)]


def _scripted(run: TrainingRun):
    """Rank 0's commands: lr_g changes at step 4, a rollback to the start at step 7 (once each)."""
    sent = set()

    def next_command(block: bool):
        for at, command in ((4, cmd.SetHParams({"lr_g": 1e-3})), (7, cmd.RollBack(0))):
            if run.step_count == at and at not in sent:
                sent.add(at)
                return command
        return None
    return next_command


def _commands_worker(rank: int, port: int, out: str) -> None:
    from cgan_core.run.follower import FollowerRun

    world = _join(rank, port)
    config = TrainConfig(preset="studio-fast", steps=10, batch_size=8, sample_every=1000, stats_every=2)
    if world.is_main:
        run = TrainingRun(config, out=Path(out) / "run", world=world)
        loop = RunLoop(run, _scripted(run), channel=world)
    else:
        run = FollowerRun(world)
        loop = RunLoop(run, channel=world)
    steps = _record(loop, run.trainer)
    trainer = run.trainer
    torch.save({"steps": steps, "g": trainer.g.state_dict(), "d": trainer.d.state_dict(),
                "ema": trainer.ema.state_dict(), "opt_g": trainer.opt_g.state_dict()}, Path(out) / f"rank{rank}.pt")
    world.leave(0)  # as the CLI ends a rank


def test_two_ranks_stay_identical_and_apply_commands_at_the_same_step(tmp_path):
    _spawn(_commands_worker, str(tmp_path))
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    # The lr change applied after step 4 and the rollback after step 7, on both ranks alike.
    assert r0["steps"] == r1["steps"]
    assert [s for s, _ in r0["steps"]] == [1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert [lr for s, lr in r0["steps"][:4]] == [4e-4] * 4 and r0["steps"][4][1] == 1e-3
    for name in ("g", "d", "ema"):
        params = [k for k in r0[name] if "running" not in k and "num_batches" not in k]  # BN stats are per rank
        assert params
        for key in params:
            assert torch.equal(r0[name][key], r1[name][key]), f"{name}.{key} differs between ranks"
    for a, b in zip(r0["opt_g"]["state"].values(), r1["opt_g"]["state"].values()):
        assert torch.equal(a["exp_avg"], b["exp_avg"])
    events = (tmp_path / "run" / "events.jsonl").read_text()
    assert '"rollback"' in events and '"lr_g"' in events


def _batch_worker(rank: int, port: int, out: str) -> None:
    from cgan_core.run.follower import FollowerRun

    world = _join(rank, port)
    run = TrainingRun(_still_config(batch_size=4), out=Path(out) / "run", world=world) if world.is_main \
        else FollowerRun(world)
    for _ in RunLoop(run, channel=world).events():
        pass
    if world.is_main:
        torch.save({"g": _gradients(run.trainer.g), "d": _gradients(run.trainer.d)}, Path(out) / "two-ranks.pt")
    world.leave(0)  # as the CLI ends a rank


# Learning rates too small to move a weight past float noise: every step's gradients are then taken at the same
# weights in both runs and compare to float precision. With real rates the weights cannot be compared tightly:
# Adam scales a gradient near zero up to a step of about lr, so the float noise of another summation order
# (a mean of two means) moves such a weight by up to lr (2e-5 after three steps on one host, against 1e-6).
STILL_LR = 1e-12


def _still_config(batch_size: int) -> TrainConfig:
    # fp32: a float sum's order is the only difference left to allow for
    return TrainConfig(preset="conv-onehot-channels", steps=3, batch_size=batch_size, seed=5, sample_every=1000,
                       precision="fp32", lr_g=STILL_LR, lr_d=STILL_LR)


def _gradients(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The gradients of the last update of `module` (each rank's mean across ranks, as DDP leaves them)."""
    return {name: p.grad.detach().clone() for name, p in module.named_parameters() if p.grad is not None}


def test_two_ranks_of_batch_b_train_as_one_process_of_batch_2b(tmp_path):
    _spawn(_batch_worker, str(tmp_path))
    torch.manual_seed(0)
    single = TrainingRun(_still_config(batch_size=8), out=tmp_path / "single")
    # The thread count of a fresh process on this machine: a studio test earlier in the same process leaves
    # one (leave_core_for_ui), and a conv's sums in another order drift past the tolerance allowed below.
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    try:
        train(single)
    finally:
        torch.set_num_threads(threads)
    two = torch.load(tmp_path / "two-ranks.pt", weights_only=True)
    for name, module in (("g", single.trainer.g), ("d", single.trainer.d)):
        expected = _gradients(module)
        assert set(two[name]) == set(expected) and len(expected) > 2, name
        for key, value in expected.items():
            # Same data, noise and weights; only the order of the float sums differs (a mean of two means).
            torch.testing.assert_close(two[name][key], value, rtol=1e-4, atol=1e-6, msg=f"{name}.{key}")
        # The gradients are large enough that the tolerance above could tell one rank's half batch from both.
        assert max(v.abs().max().item() for v in expected.values()) > 1e-3, name
