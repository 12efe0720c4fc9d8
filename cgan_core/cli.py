"""`cgan-studio SUBCOMMAND`: the engine headless (the launcher, studio/launcher.py, opens the desktop app
when no subcommand is given). Also `python -m cgan_core SUBCOMMAND`, e.g. under torchrun.

Errors are one line: a bad flag or value exits 2 naming the flag, a bad file exits 1 naming the
file, and there is never a traceback unless --debug is given.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch

from . import cli_explore
from .config import TrainConfig
from .errors import CganError, ConfigError, UsageError
from .events import reason_label
from .guard import GuardConfig
from .presets import ALIASES, PRESETS

EXIT_BAD_FILE, EXIT_USAGE = 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        raise UsageError(message)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError
    return value


_positive_int.__name__ = "positive integer"


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise ValueError
    return value


_positive_float.__name__ = "positive number"


def _interval(text: str) -> int | None:
    return None if text == "auto" else _positive_int(text)


_interval.__name__ = "'auto' or positive integer"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cgan-studio", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    sub.add_parser("presets", help="list the presets and their sources")
    train = sub.add_parser("train", help="train headless")
    train.add_argument("--preset", choices=[*PRESETS, *ALIASES], metavar="PRESET",
                       help=f"one of {', '.join(PRESETS)} (see `presets`)")
    train.add_argument("--dataset", help="mnist, fashion-mnist, kmnist, cifar10, or a folder (IDX files, "
                                         "CIFAR-10 binary, or one subfolder of images per class)")
    train.add_argument("--image-size", type=int, choices=[28, 32, 64], help="resize the images (square)")
    train.add_argument("--color", choices=["keep", "grey", "rgb"], help="keep the images' colour or force one")
    length = train.add_mutually_exclusive_group()
    length.add_argument("--steps", type=_positive_int)
    length.add_argument("--epochs", type=_positive_float)
    train.add_argument("--max-seconds", type=_positive_float)
    train.add_argument("--batch-size", type=_positive_int)
    train.add_argument("--lr-g", type=_positive_float)
    train.add_argument("--lr-d", type=_positive_float)
    train.add_argument("--latent-dim", type=_positive_int)
    train.add_argument("--seed", type=int)
    train.add_argument("--device")
    train.add_argument("--out", type=Path)
    train.add_argument("--config", type=Path, help="a TOML file of settings; flags override it")
    train.add_argument("--resume", type=Path, help="a run directory (its newest healthy checkpoint) or a checkpoint "
                                                   "to continue; --max-seconds and --epochs count from there")
    train.add_argument("--control", choices=["on", "off"], default="on",
                       help="accept commands written into RUN/control/ (cgan-studio control, the studio's Attach)")
    train.add_argument("--checkpoint-minutes", type=_positive_float,
                       help="also write a checkpoint every N minutes of wall time (default 2)")
    train.add_argument("--guard", choices=["on", "off"], default="on", help="divergence guard with rollback")
    train.add_argument("--guard-config", type=Path, help="a TOML or JSON file of guard bounds")
    train.add_argument("--nproc", type=_positive_int, metavar="N",
                       help="train one run on N processes of this machine (torch.distributed; one per GPU on CUDA); "
                            "--batch-size is per process. Under torchrun, leave it out")
    train.add_argument("--dist-timeout", type=_positive_float, default=300.0, metavar="SECONDS",
                       help="in a distributed run, how long a process waits for the others before the run ends "
                            "with an error (default 300)")
    train.add_argument("--quality-every", type=_interval, default=False, metavar="N|auto",
                       help="measure conditional accuracy and Frechet distance every N steps (auto: <= 5%% of the "
                            "training time) into quality.csv")
    sample = sub.add_parser("sample", help="sample from a generator file or run directory")
    sample.add_argument("generator", type=Path)
    which = sample.add_mutually_exclusive_group()
    which.add_argument("--per-class", type=_positive_int, default=None)
    which.add_argument("--labels")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--out", type=Path, required=True)
    control = sub.add_parser("control", help="steer a live run through its control folder (no network)")
    control.add_argument("run", type=Path)
    control.add_argument("--lr-g", type=_positive_float)
    control.add_argument("--lr-d", type=_positive_float)
    state = control.add_mutually_exclusive_group()
    for flag in ("--pause", "--resume", "--stop"):
        state.add_argument(flag, action="store_true")
    evaluate = sub.add_parser("evaluate", help="score a generator with the dataset's domain classifier")
    evaluate.add_argument("generator", type=Path)
    evaluate.add_argument("--per-class", type=_positive_int, default=100)
    evaluate.add_argument("--seed", type=int, default=0)
    cli_explore.add_commands(sub, _positive_int, _positive_float)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        args.argv = argv
        if args.command is None:
            raise UsageError("a subcommand is required: presets, train, control, sample, evaluate, interpolate or "
                             "export")
        commands = {"presets": cmd_presets, "train": cmd_train, "sample": cmd_sample, "evaluate": cmd_evaluate,
                    "control": cmd_control,
                    "interpolate": cli_explore.cmd_interpolate, "export": cli_explore.cmd_export}
        return commands[args.command](args)
    except UsageError as exc:
        print(f"cgan-studio: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        print(f"cgan-studio: error: {exc}", file=sys.stderr)
        bad_file = any(text in str(exc) for text in ("no such file", "no such folder", "TOML"))
        return EXIT_BAD_FILE if bad_file else EXIT_USAGE
    except CganError as exc:
        print(f"cgan-studio: error: {exc}", file=sys.stderr)
        return EXIT_BAD_FILE
    except OSError as exc:
        print(f"cgan-studio: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_FILE
    except Exception as exc:  # a bug: one line, and the traceback only with --debug
        if debug:
            traceback.print_exc()
        print(f"cgan-studio: internal error: {type(exc).__name__}: {exc} (run with --debug for details)", file=sys.stderr)
        return 3


def cmd_presets(args) -> int:
    aliases = {new: old for old, new in ALIASES.items()}
    for name, preset in PRESETS.items():
        alias = f" (was {aliases[name]})" if name in aliases else ""
        print(f"{name:22s} {preset.summary}\n{'':22s} from {preset.source}{alias}")
    return 0


def _train_config(args) -> tuple[TrainConfig, dict]:
    values = TrainConfig.from_toml(args.config).to_dict() if args.config else {}
    flags = {k: getattr(args, k) for k in ("preset", "dataset", "image_size", "color", "steps", "epochs", "max_seconds",
                                            "batch_size", "lr_g", "lr_d", "latent_dim", "seed", "device",
                                            "checkpoint_minutes")}
    given = {k: v for k, v in flags.items() if v is not None}
    return TrainConfig.from_dict({**values, **given}), given


def cmd_train(args) -> int:
    from . import distributed

    config, given = _train_config(args)
    if not args.resume:
        config.validate()
    if args.nproc is not None and distributed.launched():
        raise UsageError("argument --nproc: this process was started by torchrun, which sets the number of "
                         "processes (--nproc-per-node)")
    if args.nproc is not None and args.nproc > 1:
        return distributed.launch(args.nproc, _without_nproc(args.argv), args.dist_timeout)
    world = distributed.join(config.device, args.dist_timeout) if distributed.launched() else None
    try:
        if world is not None and not world.is_main:
            return _follow(world, config)
        return _train(args, config, given, world)
    finally:
        if world is not None:
            world.close()


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


def _follow(world, config: TrainConfig) -> int:
    """A rank other than 0: train in lock-step with rank 0, which prints, writes and decides."""
    from .distributed import RankFailure, failure_message
    from .follower import FollowerRun
    from .loop import RunLoop
    from .prepare import fetch_dataset

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # rank 0 stops every rank at one step
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        fetch_dataset(config.dataset)
        for _ in RunLoop(FollowerRun(world), channel=world).events():
            pass
    except (RuntimeError, RankFailure) as exc:
        print(f"cgan-studio: error: {failure_message(world, exc)}", file=sys.stderr)
        return 1
    return 0


def _train(args, config: TrainConfig, given: dict, world) -> int:
    from .commands import Stop
    from .control import ControlInbox
    from .loop import RunLoop
    from .prepare import fetch_dataset
    from .run import TrainingRun
    warn = lambda msg: print(f"cgan-studio: warning: {msg}", file=sys.stderr)
    guard = GuardConfig.read_overrides(args.guard_config) if args.guard_config else {}
    guard["enabled"] = args.guard == "on"
    if not args.resume:
        fetch_dataset(config.dataset, _download_bar(config.dataset))
    run = TrainingRun(config, out=args.out, resume=args.resume, overrides=given, warn=warn, guard=guard, world=world)
    if args.quality_every is not False:
        _enable_quality(run, args.quality_every)
    stop = {"requested": False}
    previous = {sig: signal.signal(sig, lambda *_: stop.update(requested=True))  # finish cleanly
                for sig in (signal.SIGINT, signal.SIGTERM)}
    ranks = f" x {world.describe()}, global batch {run.config.batch_size * world.size}" if world else ""
    print(f"training {run.config.preset} on {run.config.dataset}, {run.device_name}{ranks}, run dir {run.run_dir}",
          file=sys.stderr)
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
        for event in RunLoop(run, next_command, inbox=inbox, channel=world).events():
            printer.show(event)
            finished = event if type(event).__name__ == "RunFinished" else finished
    except RuntimeError as exc:
        if world is None:
            raise
        return _rank_failed(run, world, exc)
    finally:
        run.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(json.dumps(finished.summary))
    return 1 if finished.reason == "diverged" else 0


def _rank_failed(run, world, exc: RuntimeError) -> int:
    """Rank 0, when another rank died or hung: keep what can be kept, say how to go on, exit 1."""
    from .distributed import failure_message

    saved = run.save_rescue()
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
        kind = type(event).__name__
        if kind == "LossChunk" and time.monotonic() - self.last > 1.0:
            self.last = time.monotonic()
            line = _progress_line(self.run, event)
        elif kind == "RolledBack":
            line = (f"guard: {event.reason} {event.detail} at step {event.from_step}: rolled back to step "
                    f"{event.to_step}, lr G {event.lr_g:.3g}, lr D {event.lr_d:.3g}")
        elif kind == "GuardAdvice":
            applied = f" Applied: {event.applied}." if event.applied else ""
            line = f"guard: {reason_label(event.reason)} at step {event.step}. {event.message}{applied}"
        elif kind == "QualityReport":
            line = (f"quality at step {event.step}: accuracy {event.accuracy:.1%}, Frechet {event.frechet:.2f} "
                    f"(real floor {event.floor:.2f}), diversity {event.diversity:.2f} [{event.seconds:.2f}s]")
        elif kind == "BestSaved":
            line = f"best so far: step {event.step} ({event.accuracy:.1%}, Frechet {event.frechet:.2f}) -> {event.path}"
        elif kind in ("ControlApplied", "ControlRefused"):
            verdict = f"applied at step {event.step}" if kind == "ControlApplied" else f"refused: {event.reason}"
            line = f"control: {event.file} {verdict}"
        elif kind == "GuardGaveUp":
            kept = f"; the diverged state is kept in {event.diverged_path}" if event.diverged_path else ""
            line = (f"cgan-studio: error: training keeps diverging ({event.reason}, {event.rollbacks} rollbacks); "
                    f"stopped at step {event.step} with the last healthy checkpoint{kept}: lower the learning "
                    "rates and --resume")
        else:
            return
        print(line, file=sys.stderr)


def cmd_control(args) -> int:
    from . import commands
    from .control import send

    if not (args.run / "config.json").is_file():
        raise UsageError(f"argument run: {args.run} is not a run directory (no config.json)")
    changes = {k: v for k, v in (("lr_g", args.lr_g), ("lr_d", args.lr_d)) if v is not None}
    sent = [commands.SetHParams(changes)] if changes else []
    sent += [c() for flag, c in ((args.pause, commands.Pause), (args.resume, commands.Resume),
                                 (args.stop, commands.Stop)) if flag]
    if not sent:
        raise UsageError("nothing to send: give --lr-g/--lr-d, --pause, --resume or --stop")
    for command in sent:
        print(json.dumps({"sent": type(command).__name__, "file": str(send(args.run, command))}))
    return 0


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
    from .prepare import classifier_ready, prepare_quality

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


def _parse_labels(text: str, num_classes: int) -> torch.Tensor:
    try:
        labels = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UsageError(f"argument --labels: expected comma-separated class indices, got {text!r}") from None
    if not labels or any(not 0 <= label < num_classes for label in labels):
        raise UsageError(f"argument --labels: classes must be in 0..{num_classes - 1}, got {text!r}")
    return torch.tensor(labels, dtype=torch.int64)


def cmd_sample(args) -> int:
    from .checkpoint import generator_path, load_generator
    from .sampling import make_grid, save_png, to_uint8

    suffix = args.out.suffix.lower()
    if suffix not in (".png", ".npz"):
        raise UsageError(f"argument --out: must end in .png or .npz, got {args.out}")
    g, info = load_generator(generator_path(args.generator))
    k = g.num_classes
    if args.labels:
        labels = _parse_labels(args.labels, k)
    else:
        labels = torch.arange(k).repeat_interleave(args.per_class or 8)
    z = torch.randn(len(labels), g.latent_dim, generator=torch.Generator().manual_seed(args.seed))
    with torch.no_grad():
        images = to_uint8(g(z, labels).float(), info["output_range"]).numpy()
    if suffix == ".npz":
        pixels = images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)
        np.savez_compressed(args.out, images=pixels, labels=labels.numpy().astype(np.int64))
    else:
        columns = len(labels) if args.labels else (args.per_class or 8)
        save_png(args.out, make_grid(images, columns), scale=2)
    print(json.dumps({"out": str(args.out), "images": int(len(labels))}))
    return 0


def cmd_evaluate(args) -> int:
    from .checkpoint import generator_path, load_generator
    from .evaluate import evaluate_generator

    path = generator_path(args.generator)
    g, info = load_generator(path)
    print(f"scoring {path} (the domain classifier is trained once, then cached)", file=sys.stderr)
    print(json.dumps(evaluate_generator(g, info, per_class=args.per_class, seed=args.seed,
                                        dataset=info.get("dataset", "mnist"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
