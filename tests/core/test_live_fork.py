"""Forking a live run (TryVariants / ChooseVariant through the one loop): the run waits while its variants
train, goes on from the chosen one exactly as that variant would have trained alone, keeps them as run
folders, and refuses a bad fork command with an event, never by ending the run."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cgan_core.run import commands as cmd
from cgan_core.run.control import ControlInbox, send
from cgan_core.run.events import (
    ControlRefused,
    Forked,
    HParamChange,
    LossChunk,
    Progress,
    RunFinished,
    VariantsReady,
    VariantsRefused,
    VariantTurn,
)
from cgan_core.run.folder_reader import load_history
from cgan_core.run.loop import RunLoop
from cgan_core.run.training_run import TrainingRun
from cgan_core.step.config import TrainConfig
from cgan_core.step.presets import PRESETS


def config(**extra) -> TrainConfig:
    # mlp-label-concat trains with dropout: the run's RNG stream must come back with the chosen variant
    return TrainConfig(**{"preset": "mlp-label-concat", "batch_size": 8, "stats_every": 5, "sample_every": 1000,
                          "checkpoint_every": 1000, "steps": 40, "device": "cpu", **extra})


class Script:
    """Commands sent when the loop reaches a condition on the events so far (no timing involved)."""

    def __init__(self, plan: list) -> None:
        self.plan, self.seen = plan, []

    def next_command(self, block: bool):
        if self.plan and self.plan[0][0](self.seen):
            return self.plan.pop(0)[1]
        return None

    def run(self, run: TrainingRun, inbox=None) -> list:
        for event in RunLoop(run, self.next_command, inbox=inbox).events():
            self.seen.append(event)
        return self.seen


def at_step(n: int):
    return lambda seen: any(isinstance(e, Progress) and e.step >= n for e in seen)


def when(kind):
    return lambda seen: any(isinstance(e, kind) for e in seen)


def g_weights(run: TrainingRun) -> list[torch.Tensor]:
    return list(run.trainer.state_dict()["g"].values())


def test_choosing_the_unchanged_variant_is_the_run_as_if_it_never_forked(tmp_path, tiny_mnist):
    torch.manual_seed(0)
    plain = TrainingRun(config(), out=tmp_path / "plain", dataset=tiny_mnist)
    Script([]).run(plain)
    torch.manual_seed(0)
    forked = TrainingRun(config(), out=tmp_path / "forked", dataset=tiny_mnist)
    events = Script([(at_step(12), cmd.TryVariants(("lr_d=1x,0.5x",), 15)),
                     (when(VariantsReady), cmd.ChooseVariant("lr_d 1x"))]).run(forked)
    assert forked.step_count == plain.step_count == 40
    assert all(torch.equal(a, b) for a, b in zip(g_weights(forked), g_weights(plain)))
    turns = [e for e in events if isinstance(e, VariantTurn)]
    assert {t.label for t in turns} == {"lr_d 1x", "lr_d 0.5x"} and max(t.steps for t in turns) == 15
    assert all(isinstance(e, VariantTurn) for e in events[events.index(turns[0]):events.index(turns[-1])]
               if not isinstance(e, (Progress, LossChunk)))  # the run itself waited while they trained
    for run in (plain, forked):
        run.close()
    history = load_history(tmp_path / "forked")
    assert list(history.steps) == list(range(1, 41))  # the variant's rows are the run's, once each
    plain_history = load_history(tmp_path / "plain")
    for name in ("d1", "d2", "g"):  # the same losses at every step
        assert np.array_equal(history.columns[name], plain_history.columns[name])
    lines = [json.loads(line) for line in (tmp_path / "forked" / "events.jsonl").read_text().splitlines()]
    fork = next(line for line in lines if line["event"] == "forked")
    assert fork["step"] == 12 and fork["promoted"] == "lr_d 1x" and fork["variants"] == ["lr_d 1x", "lr_d 0.5x"]
    folder = tmp_path / "forked" / "variants" / "step-12"
    assert sorted(p.name for p in folder.iterdir()) == ["1-lr_d1x", "2-lr_d0.5x", "results.md"]
    table = (folder / "results.md").read_text()
    assert "| lr_d 1x | 15 |" in table and "| lr_d 0.5x | 15 |" in table
    assert (folder / "2-lr_d0.5x" / "checkpoints" / "step-000000027.pt").is_file()


def test_choosing_a_changed_variant_carries_its_rates_and_the_run_goes_on_from_it(tmp_path, tiny_mnist):
    torch.manual_seed(0)
    run = TrainingRun(config(steps=30), out=tmp_path / "r", dataset=tiny_mnist)
    events = Script([(at_step(10), cmd.TryVariants(("lr_d=1x,0.5x",), 10)),
                     (when(VariantsReady), cmd.ChooseVariant("lr_d 0.5x"))]).run(run)
    assert run.trainer.hparams["lr_d"] == config().resolved().lr_d * 0.5
    assert [e for e in events if isinstance(e, HParamChange)][0].step == 10
    ready = next(e for e in events if isinstance(e, VariantsReady))
    assert [r.label for r in ready.results] == ["lr_d 1x", "lr_d 0.5x"] and all(r.steps == 10 for r in ready.results)
    assert isinstance(events[-1], RunFinished) and run.step_count == 30
    run.close()
    history = load_history(tmp_path / "r")
    assert list(history.steps) == list(range(1, 31))
    assert [c.step for c in history.changes] == [10]


def test_bad_fork_commands_are_refused_with_an_event_and_the_run_goes_on(tmp_path, tiny_mnist):
    run = TrainingRun(config(steps=25), out=tmp_path / "r", dataset=tiny_mnist)
    events = Script([(at_step(2), cmd.ChooseVariant("x")),  # no fork open
                     (at_step(3), cmd.TryVariants(("lr_q=1x,2x",), 5)),  # not a live hyperparameter
                     (at_step(4), cmd.TryVariants(("lr_d=1x",), 5)),  # one variant is no comparison
                     (at_step(5), cmd.TryVariants(("lr_d=1x,2x",), 5)),
                     (when(VariantTurn), cmd.Step()),  # the run waits at the fork
                     (when(VariantTurn), cmd.SetHParams({"lr_g": 1e-3})),
                     (when(VariantsReady), cmd.ChooseVariant("lr_d 3x")),  # no such variant
                     (when(VariantsReady), cmd.ChooseVariant(""))]).run(run)  # keep the run as it was
    refused = [e.reason for e in events if isinstance(e, VariantsRefused)]
    assert refused[0] == "choose variant: no fork is open"
    assert "lr_q is not a live hyperparameter" in refused[1]
    assert "1 variant(s); a fork compares 2 to 4" in refused[2]
    assert refused[3].startswith("Step: a fork is open") and refused[4].startswith("SetHParams: a fork is open")
    assert "no such variant" in refused[5]
    assert run.trainer.hparams["lr_g"] == config().resolved().lr_g  # nothing changed the run
    assert next(e for e in events if isinstance(e, Forked)).promoted is None
    assert isinstance(events[-1], RunFinished) and run.step_count == 25
    run.close()


def test_a_fork_from_the_control_folder_and_a_hostile_one(tmp_path, tiny_mnist):
    folder = tmp_path / "r"
    run = TrainingRun(config(steps=30), out=folder, dataset=tiny_mnist)
    inbox = ControlInbox(folder)
    (folder / "control").mkdir(exist_ok=True)
    (folder / "control" / "a-bad.json").write_text(json.dumps({"command": "try_variants", "vary": "lr_d=1x,2x",
                                                                "steps": 5}))
    send(folder, cmd.TryVariants(("lr_g=1x,2x",), 6))
    script = Script([(when(VariantsReady), None)])
    events = []
    for event in RunLoop(run, script.next_command, inbox=inbox).events():
        events.append(event)
        if isinstance(event, VariantsReady):
            send(folder, cmd.ChooseVariant("lr_g 2x"))
    refused = [e for e in events if isinstance(e, ControlRefused)]
    assert len(refused) == 1 and "vary: must be a list, got a string" in refused[0].reason
    assert next(e for e in events if isinstance(e, Forked)).promoted == "lr_g 2x"
    assert run.trainer.hparams["lr_g"] == 2 * config().resolved().lr_g
    run.close()


def test_a_stop_while_the_variants_train_ends_the_run_at_the_fork(tmp_path, tiny_mnist):
    run = TrainingRun(config(steps=100), out=tmp_path / "r", dataset=tiny_mnist)
    events = Script([(at_step(8), cmd.TryVariants(("lr_d=1x,2x",), 500)), (when(VariantTurn), cmd.Stop())]).run(run)
    assert isinstance(events[-1], RunFinished) and events[-1].step == 8
    assert not (tmp_path / "r" / "variants").exists()
    run.close()


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_forks_live_and_goes_on_from_the_variant_chosen(tmp_path, tiny_mnist, preset):
    """The studio's path (TryVariants through the loop) on each recipe: its scheme, its losses, its EMA."""
    run = TrainingRun(TrainConfig(preset=preset, batch_size=8, stats_every=2, sample_every=1000, steps=9, device="cpu"),
                      out=tmp_path / "run", dataset=tiny_mnist)
    lr_d = run.trainer.hparams["lr_d"]
    events = Script([(at_step(3), cmd.TryVariants(("lr_d=1x,0.5x",), 3)),
                     (when(VariantsReady), cmd.ChooseVariant("lr_d 0.5x"))]).run(run)
    forked = [e for e in events if isinstance(e, Forked)]
    assert [(f.step, f.promoted) for f in forked] == [(3, "lr_d 0.5x")]
    assert run.step_count == 9 and run.trainer.hparams["lr_d"] == pytest.approx(lr_d / 2)
    run.close()
    rows = (run.run_dir / "metrics.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(1, 10))  # the variant's rows, then the run's
