"""A fork of a live run. TryVariants opens it: the run's state is copied into each variant (fork.py) and
the run waits. The loop gives it one turn at a time: the variant furthest behind trains for about
TURN_SECONDS, so a Pause, a Stop or a click waits no longer than that, and the views get its losses and,
now and then, its grid. At the horizon the variants are measured (live quality, when the run has it) and
kept as run folders. ChooseVariant closes it: the run goes on from the chosen variant exactly as that
variant would have trained alone (its state, RNG streams, rows and guard history: `_adopt`), or from its own state."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from cgan_core.errors import ConfigError, UsageError
from cgan_core.run import commands as cmd
from cgan_core.run import grids as samples
from cgan_core.run.events import Forked, HParamChange, SnapshotTaken, VariantsReady, VariantTurn
from cgan_core.run.fork import CHUNK, Fork, Variant, parse_vary, state_bytes
from cgan_core.run.stats import StatsBuffer
from cgan_core.run.variant_folders import save_variants

if TYPE_CHECKING:
    from cgan_core.run.training_run import TrainingRun

TURN_SECONDS = 0.25
GRID_SECONDS = 0.5  # a variant's grid at most this often (the studio draws grids at most twice a second)


class LiveFork:
    def __init__(self, run: TrainingRun, command: cmd.TryVariants, automatic: bool = False) -> None:
        """automatic: opened by the autotuner, which chooses when the variants are ready (not the user)."""
        if run.world is not None:
            raise ConfigError("try variants: a distributed run does not fork on its ranks; stop it and fork "
                              "its checkpoint with `cgan-studio branch RUN --vary ...`")
        try:
            specs = parse_vary(list(command.vary), run.trainer.hparams)
        except UsageError as exc:
            raise ConfigError(f"try variants: {exc}") from None
        self.run, self.automatic = run, automatic
        self.opening = [c for c in [run.flush()] if c is not None]  # the rows before the fork, plotted first
        if run.guard.healthy_now():  # the state before the fork stays: a snapshot to roll back to, and on disk
            if run.step_count not in run.snapshot_steps:
                run.guard.take_snapshot(run.trainer.state_dict())
                self.opening.append(SnapshotTaken(run.step_count, run.snapshot_steps))
            self.opening.append(run.save_checkpoint())
        self.state = run.saves.record(run.trainer.state_dict(), run.seconds)
        self.bytes = state_bytes(self.state) * len(specs)  # what the variants hold
        self.fork = Fork(run.config, run.dataset, self.state, specs, command.steps, run.seconds)
        self.ready: VariantsReady | None = None
        self._scores: list = []
        self._per_step: list[float | None] = [None] * len(specs)  # seconds a step, as last measured
        self._last_grid = [float("-inf")] * len(specs)

    @property
    def end(self) -> int:
        return self.fork.start_step + self.fork.horizon

    def turn(self) -> list:
        """The variant furthest behind trains for about TURN_SECONDS (its first turn: one step, to time it)."""
        events, self.opening = self.opening, []
        waiting = [(v.step, i) for i, v in enumerate(self.fork.variants) if v.diverged_at is None and v.step < self.end]
        if waiting:
            index = min(waiting)[1]
            variant = self.fork.variants[index]
            per_step = self._per_step[index]
            steps = 1 if per_step is None else max(1, min(CHUNK, int(TURN_SECONDS / max(per_step, 1e-6))))
            before = (variant.step, variant.seconds)
            variant.advance(min(steps, self.end - variant.step))
            self._per_step[index] = (variant.seconds - before[1]) / max(1, variant.step - before[0])
            events.append(self._turn_event(index))
        if self.fork.done:
            events.append(self._finish())
        return events

    def _turn_event(self, index: int) -> VariantTurn:
        variant, now = self.fork.variants[index], time.monotonic()
        over = variant.diverged_at is not None or variant.step >= self.end
        grid = None
        if over or now - self._last_grid[index] >= GRID_SECONDS:
            grid, self._last_grid[index] = samples.grid(variant.trainer, self.run.grid_per_class), now
        return VariantTurn(self.fork.start_step, index, variant.spec.label, variant.step - self.fork.start_step,
                           self.fork.horizon, variant.chunks[-1] if variant.chunks else None, grid, variant.stopped_by)

    def _finish(self) -> VariantsReady:
        """Each variant measured and kept as a run folder (RUN/variants/step-N/)."""
        live = self.run.quality.live
        self._scores = [v.measure(live) if live is not None else None for v in self.fork.variants]
        folder = save_variants(self.run.files, self.fork, self.state, self._scores)
        best = self.fork.best(self._scores).spec.label if any(s is not None for s in self._scores) else None
        self.ready = VariantsReady(self.fork.start_step, self.fork.horizon, tuple(self.fork.results()),
                                   tuple(None if s is None else (s[1], s[2]) for s in self._scores), best, str(folder),
                                   self.automatic)
        return self.ready

    def choose(self, label: str) -> list:
        """The run goes on from the variant labelled `label` ("best": by live quality; "": none, the run
        as it was at the fork). Chosen before the horizon, the variants are measured and kept as they are."""
        events = [] if self.ready is not None else [self._finish()]
        variant = self._variant(label)
        forked = Forked(self.fork.start_step, self.fork.horizon, tuple(v.spec.label for v in self.fork.variants),
                        self.ready.folder, variant.spec.label if variant is not None else None)
        if variant is None:
            self.run.log(forked)
            return events + [forked]
        # Every variant's training time counts: a budget in seconds covers what the fork cost.
        return events + _adopt(self.run, variant, sum(v.seconds for v in self.fork.variants), forked) + [forked]

    def _variant(self, label: str) -> Variant | None:
        if label == "":
            return None
        if label == "best":
            if self.ready.best is None:
                raise ConfigError("choose variant best: the variants were not measured (live quality is off, "
                                  "or every one diverged); choose one by its label")
            label = self.ready.best
        try:
            variant = self.fork.chosen(label)
        except UsageError as exc:
            raise ConfigError(str(exc).replace("--promote", "choose variant")) from None
        if variant.diverged_at is not None:
            raise ConfigError(f"choose variant {label}: it stopped at step {variant.diverged_at} "
                              f"({variant.stopped_by}); choose another, or keep the run")
        return variant


def _adopt(run: TrainingRun, variant: Variant, spent: float, forked: Forked) -> list:
    """The run goes on from `variant`: its state with its RNG streams, its hyperparameters, its rows since
    the fork and its guard's history; a snapshot and a checkpoint of it at once. `spent`: the seconds
    every variant trained, the run's training time from the fork on. On disk it is one journaled change
    (RunFiles.adopt): the rows and the checkpoint, then the hyperparameter events and `forked`."""
    fork_step, old = run.step_count, dict(run.trainer.hparams)
    run.trainer.load_state_dict(variant.state_dict())
    run.seconds = variant.base_seconds + spent
    events = [HParamChange(fork_step, k, float(old[k]), float(v)) for k, v in variant.spec.changes.items()]
    run.guard.load_state_dict(variant.guard.state_dict())
    run.stats = StatsBuffer(run.seconds, run.trainer.images_seen, run.config.stats_every, run.report_seconds)
    run.guard.take_snapshot(run.trainer.state_dict())
    saved = []

    def write() -> None:  # the variant's rows, then the checkpoint that commits the adoption
        run.files.write_metrics(variant.rows)
        saved.append(run.save_checkpoint())
    run.files.adopt(run.step_count, [*events, forked], write)
    losses = variant.losses()
    return [*([losses] if losses is not None else []), *events, SnapshotTaken(run.step_count, run.snapshot_steps),
            *saved]
