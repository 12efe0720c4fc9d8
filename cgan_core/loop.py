"""The one training loop. The CLI, the tests, the studio's worker (and, later, every rank of a
distributed run) drive a TrainingRun through it: commands in between steps, events out.

    loop = RunLoop(run, next_command)
    for event in loop.events():
        ...

`next_command(block)` returns the next Command or None; while paused the loop asks with block=True
and the source may wait a little (the studio's queue waits 50 ms), so a paused loop does not spin.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

from . import commands as cmd
from .control import ControlInbox
from .errors import CganError
from .events import ControlApplied, ControlRefused, GuardGaveUp, Progress, RunFinished
from .run import TrainingRun

NextCommand = Callable[[bool], "cmd.Command | None"]
LOOP_COMMANDS = (cmd.Pause, cmd.Resume, cmd.Step, cmd.Stop)


def no_commands(block: bool) -> None:
    return None


class RunLoop:
    """Owns what only the loop knows: paused or not, the single steps asked for, a stop requested.

    on_give_up: "stop" ends the run when the guard gives up (the CLI exits 1); "pause" pauses it and
    waits for the user (the studio).
    """

    def __init__(self, run: TrainingRun, next_command: NextCommand = no_commands, paused: bool = False,
                 on_give_up: str = "stop", inbox: ControlInbox | None = None) -> None:
        self.run = run
        self.next_command = next_command
        self.inbox = inbox  # command files from outside the process (control.py), when the run accepts them
        self.paused = paused
        self.on_give_up = on_give_up
        self.stop_requested = False
        self._single_steps: list[cmd.Step] = []

    def events(self) -> Iterator:
        """Train until a limit is reached, a Stop arrives or the guard gives up; then finish the run."""
        run, reason = self.run, None
        while reason is None:
            yield from self._apply_commands()
            if self.stop_requested:
                reason = "stopped"
            elif self._single_steps:
                asked = self._single_steps.pop(0)
                # A single step is looked at closely: its losses and a fresh grid at once.
                events = run.step_parts(asked.update_d, asked.update_g) + [run.flush(), run.sample_grid()]
                reason = yield from self._after_step([e for e in events if e is not None])
            elif not self.paused:
                reason = run.limit_reached()
                if reason is None:
                    reason = yield from self._after_step(run.step())
        yield from run.finish(reason)

    def _after_step(self, events: list):
        yield from events
        reason = None
        if any(isinstance(e, GuardGaveUp) for e in events):
            if self.on_give_up == "stop":
                reason = "diverged"
            else:
                self.paused = True
        yield self.progress()
        return reason

    def progress(self) -> Progress:
        run = self.run
        return Progress(run.step_count, run.epoch, run.images_per_second, run.seconds - run.budget.start_seconds,
                        run.progress(), self.paused)

    def _apply_commands(self) -> Iterator:
        block = self.paused and not self._single_steps and not self.stop_requested
        command = self.next_command(block)
        while command is not None:
            yield from self.apply(command)
            command = self.next_command(False)
        if self.inbox is not None:
            for name, command, why in self.inbox.poll():
                yield from self._apply_file(name, command, why)

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
        self.run.files.log(event)
        yield event

    def apply(self, command) -> Iterator:
        if isinstance(command, cmd.Stop):
            self.stop_requested = True
        elif isinstance(command, cmd.Step):
            self._single_steps.append(command)
        elif isinstance(command, (cmd.Pause, cmd.Resume)):
            self.paused = isinstance(command, cmd.Pause)
            yield from [e for e in [self.run.flush()] if e is not None]
            yield self.progress()
        else:
            yield from self.run.apply(command)


def train(run: TrainingRun, next_command: NextCommand = no_commands) -> RunFinished:
    """Run to the end headless (tests, scripts); returns the RunFinished event."""
    finished = None
    for event in RunLoop(run, next_command).events():
        if isinstance(event, RunFinished):
            finished = event
    return finished
