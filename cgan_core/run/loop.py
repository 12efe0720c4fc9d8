"""The one training loop. The CLI, the tests, the studio's worker and every rank of a distributed run
drive a run through it: commands in between steps, events out.

    loop = RunLoop(run, next_command)
    for event in loop.events():
        ...

`next_command(block)` returns the next Command or None; while paused the loop asks with block=True
and the source may wait a little (the studio's queue waits 50 ms), so a paused loop does not spin.

Each turn of the loop: rank 0 (or the only process) collects its commands, applies its own (guard,
grids, quality, a rollback), then applies the shared ones; in a distributed run `channel` first gives
every rank rank 0's shared list, so they all pause, step, stop or change a learning rate at one step.

A fork (TryVariants, live_fork.py) is a state of the loop like paused: while it is open the run itself
does not step; each turn gives one variant a fraction of a second, and ChooseVariant closes it. A fork
command that cannot be applied is answered by a VariantsRefused event (ControlRefused from a file).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from enum import Enum
from typing import Protocol, runtime_checkable

from cgan_core.errors import CganError, ConfigError
from cgan_core.records import FinishReason
from cgan_core.run import commands as cmd
from cgan_core.run.autotune import Autotune, Autotuner
from cgan_core.run.budget import Budget
from cgan_core.run.control import ControlInbox
from cgan_core.run.events import ControlApplied, ControlRefused, GuardGaveUp, Progress, RunFinished, VariantsRefused
from cgan_core.run.live_fork import LiveFork

# What waits while a fork is open: the run stands at the fork until a variant (or none) is chosen.
WAIT_FOR_FORK = (cmd.Step, cmd.RollBack, cmd.SetHParams)
NextCommand = Callable[[bool], "cmd.Command | None"]


@runtime_checkable
class DrivenRun(Protocol):
    """What the loop drives: a TrainingRun (the only process, or rank 0) or a FollowerRun (every other rank).
    The loop reads only this; a test of the loop can drive either."""

    seconds: float  # training time of the whole run, across resumes
    budget: Budget

    @property
    def step_count(self) -> int: ...
    @property
    def epoch(self) -> float: ...
    @property
    def images_per_second(self) -> float: ...
    def step(self, part: cmd.StepPart = cmd.StepPart.BOTH) -> list: ...
    def apply(self, command: object) -> list: ...
    def due_commands(self) -> list: ...
    def flush(self) -> object | None: ...
    def sample_grid(self) -> object | None: ...
    def limit_reached(self) -> FinishReason | None: ...
    def progress(self) -> float | None: ...
    def log(self, event: object) -> None: ...
    def finish(self, reason: FinishReason) -> list: ...
    def observe(self, event: object) -> None: ...


def no_commands(block: bool) -> None:
    return None


class OnGiveUp(Enum):
    """What the loop does when the guard gives up: STOP ends the run (the CLI exits 1); PAUSE pauses it and
    waits for the user (the studio)."""

    STOP = "stop"
    PAUSE = "pause"


class RunLoop:
    """Owns what only the loop knows: paused or not, the single steps asked for, a stop requested.

    on_give_up: what the guard's giving up does (OnGiveUp). channel: a distributed run's World
    (share_commands() gives rank 0's list to every rank); None in a single process.
    """

    def __init__(self, run: DrivenRun, next_command: NextCommand = no_commands, paused: bool = False,
                 on_give_up: OnGiveUp = OnGiveUp.STOP, inbox: ControlInbox | None = None, channel=None,
                 autotune: Autotune | None = None) -> None:
        """autotune: fork and keep the best variant on that schedule (autotune.py); one process only."""
        if autotune is not None and channel is not None:
            raise ConfigError("--autotune: a distributed run does not fork on its ranks; train it on one process")
        self.run = run
        self.next_command = next_command
        self.inbox = inbox  # command files from outside the process (control.py), when the run accepts them
        self.channel = channel
        self.paused = paused
        self.on_give_up = on_give_up
        self.stop_reason: FinishReason | None = None  # set when a Stop is applied: the loop ends this turn
        self._give_up_due = False
        self._single_steps: list[cmd.Step] = []
        self.fork: LiveFork | None = None  # an open fork: the run waits while its variants train, then for a choice
        self.autotuner = Autotuner(autotune) if autotune is not None else None

    def events(self) -> Iterator:
        """Train until a limit is reached, a Stop arrives or the guard gives up; then finish the run. Every
        event is also shown to the run (its writer's TensorBoard files, where they are open)."""
        for event in self._turns():
            self.run.observe(event)
            yield event

    def _turns(self) -> Iterator:
        run = self.run
        while True:
            yield from self._exchange_commands()
            if self.stop_reason is not None:
                break
            if self.fork is not None:
                if self.fork.automatic and self.fork.ready is not None:
                    yield from self._autotune_choose()
                elif not self.paused and self.fork.ready is None:
                    yield from self.fork.turn()
                    yield self.progress()
            elif self._autotune_due():
                yield from self._apply_item((None, self.autotuner.fork(run.step_count), ""))
            elif self._single_steps:
                asked = self._single_steps.pop(0)
                # A single step is looked at closely: its losses and a fresh grid at once.
                events = run.step(asked.part) + [run.flush(), run.sample_grid()]
                yield from self._after_step([e for e in events if e is not None])
            elif not self.paused:
                yield from self._after_step(run.step())
        yield from run.finish(self.stop_reason)

    def _autotune_due(self) -> bool:
        return (self.autotuner is not None and not self.paused and not self._single_steps
                and self.autotuner.due(self.run.step_count) and self.run.limit_reached() is None)

    def _opened_by_autotune(self, command: cmd.TryVariants) -> bool:
        return self.autotuner is not None and command is self.autotuner.opened  # not a user's, however alike

    def _autotune_choose(self) -> Iterator:
        try:
            events = list(self._fork_command(self.autotuner.choose(self.fork.ready, self.run.config.selection)))
        except CganError as exc:  # never left waiting for a user who did not open the fork: keep the run
            events = [VariantsRefused(self.run.step_count, str(exc)), *self._fork_command(cmd.ChooseVariant(""))]
        yield from events

    def _after_step(self, events: list) -> Iterator:
        yield from events
        if any(isinstance(e, GuardGaveUp) for e in events):
            if self.on_give_up is OnGiveUp.STOP:
                self._give_up_due = True  # ends the run at the next turn, on every rank
            else:
                self.paused = True
        yield self.progress()

    def progress(self) -> Progress:
        run = self.run
        return Progress(run.step_count, run.epoch, run.images_per_second, run.seconds - run.budget.start_seconds,
                        run.progress(), self.paused)

    # ---- commands ------------------------------------------------------------------------------------
    def _exchange_commands(self) -> Iterator:
        own, shared = [], []
        for item in self._collect():
            (shared if isinstance(item[1], cmd.SHARED) else own).append(item)
        for item in own:
            yield from self._apply_item(item)
        shared = [(None, c, "") for c in self.run.due_commands()] + shared + self._end_due()
        if self.channel is not None:
            shared = self.channel.share_commands(shared)
        for item in shared:
            yield from self._apply_item(item)

    def _collect(self) -> list[tuple[str | None, object, str]]:
        """(control file name or None, command, why a file was refused) from this process's sources."""
        block = (self.paused and not self._single_steps) or (self.fork is not None and self.fork.ready is not None)
        items = []
        command = self.next_command(block)
        while command is not None:
            items.append((None, command, ""))
            command = self.next_command(False)
        if self.inbox is not None:
            items += self.inbox.poll()
        return items

    def _end_due(self) -> list:
        """A Stop for every rank when the guard gave up or a limit is reached (rank 0 decides)."""
        if self._give_up_due:
            return [(None, cmd.Stop(FinishReason.DIVERGED), "")]
        reason = None if self.paused or self._single_steps else self.run.limit_reached()
        return [(None, cmd.Stop(reason), "")] if reason else []

    def _apply_item(self, item: tuple) -> Iterator:
        name, command, why = item
        if name is not None:
            yield from self._apply_file(name, command, why)
            return
        try:
            events = list(self.apply(command))
        except CganError as exc:
            if not isinstance(command, cmd.FORK_COMMANDS) and self.fork is None:
                raise
            events = [VariantsRefused(self.run.step_count, str(exc))]  # the run goes on as it was
        yield from events

    def _apply_file(self, name: str, command, why: str) -> Iterator:
        """A command from the control folder: applied and acknowledged, or refused; never fatal."""
        step = self.run.step_count
        if command is not None:
            try:
                events = list(self.apply(command))
            except CganError as exc:
                command, why = None, str(exc)
        if command is None:
            event = ControlRefused(step, name, why)
        else:
            event = ControlApplied(step, name, type(command).__name__)
            yield from events
        if self.inbox is not None:  # rank 0 read the file: applied, it goes; refused, it is kept aside
            (self.inbox.refused if command is None else self.inbox.applied)(name)
        self.run.log(event)
        yield event

    def apply(self, command) -> Iterator:
        if isinstance(command, cmd.FORK_COMMANDS) or (self.fork is not None and isinstance(command, WAIT_FOR_FORK)):
            yield from self._fork_command(command)
        elif isinstance(command, cmd.Stop):
            self.stop_reason = self.stop_reason or command.reason
        elif isinstance(command, cmd.Step):
            self._single_steps.append(command)
        elif isinstance(command, (cmd.Pause, cmd.Resume)):
            self.paused = isinstance(command, cmd.Pause)
            yield from [e for e in [self.run.flush()] if e is not None]
            yield self.progress()
        else:
            yield from self.run.apply(command)

    def _fork_command(self, command) -> Iterator:
        if isinstance(command, cmd.TryVariants):
            if self.fork is not None:
                raise ConfigError("try variants: a fork is open; choose a variant (or keep the run) first")
            if self.channel is not None:
                raise ConfigError("try variants: a distributed run does not fork on its ranks; stop it and "
                                  "fork its checkpoint with `cgan-studio branch RUN --vary ...`")
            self.fork, self._single_steps = LiveFork(self.run, command, self._opened_by_autotune(command)), []
        elif isinstance(command, cmd.ChooseVariant):
            if self.fork is None:
                raise ConfigError("choose variant: no fork is open")
            events = self.fork.choose(command.label)
            self.fork = None
            yield from events
            yield self.progress()
        else:
            raise ConfigError(f"{type(command).__name__}: a fork is open; choose a variant (or keep the run) first")


def train(run: DrivenRun, next_command: NextCommand = no_commands) -> RunFinished:
    """Run to the end headless (tests, scripts); returns the RunFinished event."""
    finished = None
    for event in RunLoop(run, next_command).events():
        if isinstance(event, RunFinished):
            finished = event
    return finished
