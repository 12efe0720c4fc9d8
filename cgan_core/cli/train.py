"""`cgan-studio train`: one run headless, on one process or as every rank of a distributed run, with a
line of progress about once a second and every guard decision, quality measurement and best model."""
from __future__ import annotations

import dataclasses
import json
import signal
import sys
import time

from cgan_core.errors import UsageError
from cgan_core.output.quality import QualityReport
from cgan_core.records import FinishReason
from cgan_core.run.autotune import Autotune
from cgan_core.run.events import (
    BestSaved,
    ControlApplied,
    ControlRefused,
    Forked,
    GuardAdvice,
    GuardGaveUp,
    LossChunk,
    RolledBack,
    RunFinished,
    VariantsReady,
    VariantsRefused,
    reason_label,
)
from cgan_core.run.guard import GuardConfig
from cgan_core.step.config import TrainConfig


def _train_config(args) -> tuple[TrainConfig, dict, bool]:
    """(the configuration, the flags given, whether a flag or the --config file named a preset: if neither
    did, the data picks it, see preset_for_data)."""
    values = TrainConfig.read_toml(args.config) if args.config else {}
    flags = {k: getattr(args, k) for k in ("preset", "dataset", "image_size", "color", "steps", "epochs", "max_seconds",
                                            "batch_size", "lr_g", "lr_d", "latent_dim", "seed", "device", "precision",
                                            "checkpoint_minutes", "best_by", "augment")}
    given = {k: v for k, v in flags.items() if v is not None}
    # The TOML file's settings were checked as its own (read_toml); what is refused here is a flag's.
    return TrainConfig.from_dict({**values, **given}, source="", flags=True), given, "preset" in {**values, **given}


def preset_for_data(config: TrainConfig) -> TrainConfig:
    """No preset named: the default for the images the run will train on (presets.default_preset), said in
    one line when it is not the usual one."""
    from cgan_core.data.registry import planned_images
    from cgan_core.step.presets import DEFAULT_PRESET, RGB_MIN_SIDE, default_preset

    shape, _ = planned_images(config.dataset, config.image_size, config.color)
    preset = default_preset(shape)
    if preset != DEFAULT_PRESET:
        print(f"cgan-studio: colour images of {shape[1]} px: preset {preset}, the default for colour images of "
              f"{RGB_MIN_SIDE} px and more (--preset picks another)", file=sys.stderr)
    return dataclasses.replace(config, preset=preset)


def cmd_train(args) -> int:
    from cgan_core.step import distributed

    config, given, preset_named = _train_config(args)
    if args.autotune is not None:
        args.autotune = Autotune.parse(args.autotune)  # checked before anything is started
        if args.nproc is not None and args.nproc > 1 or distributed.launched():
            raise UsageError("--autotune: a distributed run does not fork on its ranks; train it on one process")
    if not args.resume:
        config.validate()
    if args.nproc is not None and distributed.launched():
        raise UsageError("argument --nproc: this process was started by torchrun, which sets the number of "
                         "processes (--nproc-per-node)")
    if args.nproc is not None and args.nproc > 1:
        return distributed.launch(args.nproc, _without_nproc(args.argv), args.dist_timeout)
    if not distributed.launched():
        return _train(args, config, given, preset_named, None)
    world = distributed.join(config.device, args.dist_timeout)
    code = _follow(world) if not world.is_main else _train(args, config, given, preset_named, world)
    world.leave(code)  # never returns


def _without_nproc(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip or arg.startswith("--nproc="):
            skip = False
            continue
        skip = arg == "--nproc"
        if not skip:
            out.append(arg)
    return out


def _follow(world) -> int:
    """A rank other than 0: train in lock-step with rank 0, which prints, writes and decides."""
    from cgan_core.run.follower import FollowerRun
    from cgan_core.run.loop import RunLoop
    from cgan_core.step.distributed import RankFailure, failure_message

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # rank 0 stops every rank at one step
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        for _ in RunLoop(FollowerRun(world), channel=world).events():
            pass
    except (RuntimeError, RankFailure) as exc:
        print(f"cgan-studio: error: {failure_message(world, exc)}", file=sys.stderr)
        return 1
    return 0


def _train(args, config: TrainConfig, given: dict, preset_named: bool, world) -> int:
    from cgan_core.run.commands import Stop
    from cgan_core.run.control import ControlInbox
    from cgan_core.run.loop import RunLoop
    from cgan_core.run.prepare import fetch_dataset
    from cgan_core.run.training_run import TrainingRun
    warn = lambda msg: print(f"cgan-studio: warning: {msg}", file=sys.stderr)
    guard = GuardConfig.read_overrides(args.guard_config) if args.guard_config else {}
    guard["enabled"] = args.guard == "on"
    if args.tensorboard:
        from cgan_core.run.tensorboard_log import check_available
        check_available()
    if not args.resume:
        fetch_dataset(config.dataset, _download_bar(config.dataset))
        if not preset_named:
            config = preset_for_data(config)
    run = TrainingRun(config, out=args.out, resume=args.resume, overrides=given, warn=warn, guard=guard, world=world,
                      tensorboard=args.tensorboard)
    if args.quality_every is not False or args.autotune is not None:  # the autotuner picks by live quality
        _enable_quality(run, None if args.quality_every is False else args.quality_every)
    stop = {"requested": False}
    previous = {sig: signal.signal(sig, lambda *_: stop.update(requested=True))  # finish cleanly
                for sig in (signal.SIGINT, signal.SIGTERM)}
    ranks = f" x {world.describe()}, global batch {run.config.batch_size * world.size}" if world else ""
    print(f"training {run.config.preset} on {run.config.dataset} ({run.dataset.image_label}), {run.device_name}{ranks}, "
          f"{run.footprint.describe()}, run dir {run.run_dir}", file=sys.stderr)
    printer, finished = _EventPrinter(run), None
    def next_command(block: bool):
        if stop["requested"]:  # once: the loop asks again until it gets None
            stop["requested"] = False
            return Stop()
        if block:  # paused (from the control folder): wait a little instead of spinning
            time.sleep(0.05)
        return None
    inbox = ControlInbox(run.run_dir) if args.control == "on" else None
    try:
        for event in RunLoop(run, next_command, inbox=inbox, channel=world, autotune=args.autotune).events():
            printer.show(event)
            finished = event if isinstance(event, RunFinished) else finished
    except RuntimeError as exc:
        if world is None:
            raise
        return _rank_failed(run, world, exc)
    finally:
        run.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(json.dumps(finished.summary))
    return 1 if finished.reason is FinishReason.DIVERGED else 0


def _rank_failed(run, world, exc: RuntimeError) -> int:
    """Rank 0, when another rank died or hung: keep what can be kept, say how to go on, exit 1."""
    from cgan_core.step.distributed import failure_message

    saved = run.saves.rescue(run.seconds)  # the newest healthy snapshot as a checkpoint
    kept = f"; its newest healthy state is {saved}" if saved else ""
    print(f"cgan-studio: error: {failure_message(world, exc)}: the run stopped at step {run.step_count}{kept}; "
          f"--resume {run.run_dir} continues it", file=sys.stderr)
    return 1


class _EventPrinter:
    """One line on stderr for what a user should know: progress about once a second, and every guard
    decision, quality measurement and best model."""

    def __init__(self, run) -> None:
        self.run, self.last = run, 0.0

    def show(self, event) -> None:
        line = self._line(event)
        if line is not None:
            print(line, file=sys.stderr)

    def _line(self, event) -> str | None:
        match event:
            case LossChunk() if time.monotonic() - self.last > 1.0:
                self.last = time.monotonic()
                return _progress_line(self.run, event)
            case RolledBack():
                return (f"guard: {event.reason} {event.detail} at step {event.from_step}: rolled back to step "
                        f"{event.to_step}, lr G {event.lr_g:.3g}, lr D {event.lr_d:.3g}")
            case GuardAdvice():
                applied = f" Applied: {event.applied}." if event.applied else ""
                return f"guard: {reason_label(event.reason)} at step {event.step}. {event.message}{applied}"
            case QualityReport():
                return (f"quality at step {event.step}: accuracy {event.accuracy:.1%}, Frechet {event.frechet:.2f} "
                        f"(real floor {event.floor:.2f}), diversity {event.diversity:.2f}; independent: KID "
                        f"{1000 * event.kid:.2f}±{1000 * event.kid_spread:.2f} x1e-3, per-class Frechet "
                        f"{event.intra_mean:.2f} (real floor {event.intra_floor:.2f}) [{event.seconds:.2f}s]")
            case BestSaved():
                return f"best so far: step {event.step} ({event.accuracy:.1%}, Frechet {event.frechet:.2f}) -> {event.path}"
            case ControlApplied():
                return f"control: {event.file} applied at step {event.step}"
            case ControlRefused():
                return f"control: {event.file} refused: {event.reason}"
            case VariantsReady(automatic=True):
                measured = "; ".join(f"{r.label}: {'stopped' if q is None else f'{q[0]:.1%}, Frechet {q[1]:.2f}'}"
                                     for r, q in zip(event.results, event.quality))
                return f"autotune at step {event.step}, {event.horizon} steps each: {measured}"
            case VariantsReady():
                return (f"variants ready (fork at step {event.step}, {event.horizon} steps each), in "
                        f"{event.folder}/results.md; the run waits: cgan-studio control {self.run.run_dir} "
                        f"--choose LABEL|best|keep" + (f" (best: {event.best})" if event.best else ""))
            case VariantsRefused():
                return f"variants: refused: {event.reason}"
            case Forked():
                return f"fork at step {event.step}: {event.label}"
            case GuardGaveUp():
                kept = f"; the diverged state is kept in {event.diverged_path}" if event.diverged_path else ""
                return (f"cgan-studio: error: training keeps diverging ({event.reason}, {event.rollbacks} rollbacks); "
                        f"stopped at step {event.step} with the last healthy checkpoint{kept}: lower the learning "
                        "rates and --resume")
        return None


def _download_bar(dataset: str):
    """A progress bar on stderr for a dataset's first download."""
    shown = {"file": None, "tenth": -1}

    def bar(file: str, fraction: float) -> None:
        if shown["file"] is None:
            print(f"fetching {dataset} into the cache (once)", file=sys.stderr)
        tenth = int(fraction * 20)
        if (file, tenth) != (shown["file"], shown["tenth"]):
            shown.update(file=file, tenth=tenth)
            end = "\n" if fraction >= 1 else ""
            print(f"\rdownloading {file} [{'#' * tenth}{'.' * (20 - tenth)}] {fraction:4.0%}", end=end, file=sys.stderr)
    return bar


def _enable_quality(run, every: int | None) -> None:
    from cgan_core.run.prepare import classifier_ready, prepare_quality

    if not classifier_ready(run.dataset):
        print(f"training the {run.config.dataset} domain classifier (once, then cached)…", file=sys.stderr)
    shown = {"at": -1.0}

    def progress(fraction: float) -> None:
        if fraction - shown["at"] >= 0.1:
            shown["at"] = fraction
            print(f"domain classifier {fraction:4.0%}", file=sys.stderr)
    run.enable_quality(prepare_quality(run.config, run.dataset, progress), every)


def _progress_line(run, chunk) -> str:
    d1, d2, g = (float(chunk.column(n)[-1]) for n in ("d1", "d2", "g"))
    done, elapsed = run.progress(), run.seconds - run.budget.start_seconds
    eta = f" | ETA {elapsed * (1 - done) / done:5.0f}s" if done else ""
    return (f"step {int(chunk.steps[-1]):7d} | epoch {chunk.epoch:6.2f} | d1 {d1:.3f} d2 {d2:.3f} g {g:.3f}"
            f" | {chunk.images_per_second:7.0f} img/s{eta}")
