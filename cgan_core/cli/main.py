"""`cgan-studio SUBCOMMAND`: the engine headless (the launcher, studio/launcher.py, opens the desktop app
when no subcommand is given). Also `python -m cgan_core SUBCOMMAND`, e.g. under torchrun.

Errors are one line: a bad flag or value exits 2 naming the flag, a bad file exits 1 naming the
file, and there is never a traceback unless --debug is given.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import traceback
from pathlib import Path

import numpy as np
import torch

from cgan_core.cli import branch as cli_branch
from cgan_core.cli import compare as cli_compare
from cgan_core.cli import explore as cli_explore
from cgan_core.cli import sweep as cli_sweep
from cgan_core.cli import train as cli_train
from cgan_core.data.dataset import SIZES
from cgan_core.errors import CganError, ConfigError, UsageError
from cgan_core.run.folder_reader import is_run
from cgan_core.step.config import BestBy
from cgan_core.step.presets import ALIASES, PRESETS

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
    parser = _Parser(prog="cgan-studio", description="Train and study class-conditional GANs from the command line. "
                     "Without a subcommand, cgan-studio opens the desktop app.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    sub.add_parser("presets", help="list the presets and their sources")
    _add_train(sub.add_parser("train", help="train headless"))
    _add_run_commands(sub)
    cli_explore.add_commands(sub, _positive_int, _positive_float)
    cli_sweep.add_command(sub, _positive_int, _positive_float)
    cli_branch.add_command(sub, _positive_int)
    cli_compare.add_command(sub, _positive_int, _positive_float)
    return parser


def _add_train(train: argparse.ArgumentParser) -> None:
    train.add_argument("--preset", choices=[*PRESETS, *ALIASES], metavar="PRESET",
                       help=f"one of {', '.join(PRESETS)} (see `presets`)")
    train.add_argument("--dataset", help="mnist, fashion-mnist, kmnist, cifar10, or a folder (IDX files, "
                                         "CIFAR-10 binary, or one subfolder of images per class)")
    train.add_argument("--image-size", type=int, choices=list(SIZES),
                       help="resize the images (square); default: the data's own size (a folder of images: the size "
                            "most of them have, or the largest of these below it)")
    train.add_argument("--augment", metavar="POLICY",
                       help="D's differentiable augmentation: none, a comma list of color, translation, cutout (always "
                            "on), or adaptive[:LIST] (each applied with a probability that rises while D overfits, "
                            "StyleGAN2-ADA) (default: the preset's; resnet-projection: adaptive, all three)")
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
    train.add_argument("--precision", choices=["auto", "fp32", "bf16"],
                       help="the training forwards' arithmetic: bf16 autocast is 1.5x faster on CPUs with avx512_bf16 "
                            "and on recent GPUs; weights, optimizer and losses stay fp32; auto = bf16 where native "
                            "(default: the preset's)")
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
    train.add_argument("--tensorboard", action="store_true",
                       help="also write TensorBoard event files into RUN/tensorboard (needs the tensorboard package)")
    train.add_argument("--autotune", nargs="+", metavar="KEY=VALUE",
                       help="every=N around=NAME[,NAME] [factor=F] [steps=N]: every N steps, fork the run around its "
                            "current value of NAME (kept, /F, xF; default F 2), train each variant `steps` steps (default "
                            "N/8) and go on from the best by live quality (on by this flag); the names take turns")
    train.add_argument("--best-by", choices=[b.value for b in BestBy],
                       help="what picks best.safetensors and ranks --autotune's variants: classifier (default: "
                            "conditional accuracy, then Frechet distance, by the dataset's domain classifier) or "
                            "independent (the mean per-class Frechet distance in a seeded random network's features, "
                            "which no training shaped); fixed for a run")
    train.add_argument("--quality-every", type=_interval, default=False, metavar="N|auto",
                       help="measure conditional accuracy and Frechet distance every N steps (auto: <= 5%% of the "
                            "training time) into quality.csv")


def _add_run_commands(sub) -> None:
    """sample, control, export-tensorboard and evaluate: what is done with a run or a generator."""
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
    control.add_argument("--vary", action="append", metavar="NAME=VALUES",
                         help="try variants of the live run (as `branch --vary`; with --steps): the run waits for "
                              "them, writes RUN/variants/step-N/results.md, then waits for --choose")
    control.add_argument("--steps", type=_positive_int, help="steps each variant trains (with --vary)")
    control.add_argument("--choose", metavar="LABEL|best|keep",
                         help="after --vary: go on from this variant, from the best by live quality, or keep the run")
    board = sub.add_parser("export-tensorboard", help="write a past run's curves, grids, quality and settings as "
                                                     "TensorBoard event files (RUN/tensorboard)")
    board.add_argument("run", type=Path)
    evaluate = sub.add_parser("evaluate", help="score a generator with the dataset's domain classifier")
    evaluate.add_argument("generator", type=Path)
    evaluate.add_argument("--per-class", type=_positive_int, default=100)
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--figures", choices=["all", "classifier"], default="all",
                          help="all (default): also KID, precision, recall, density, coverage, intra-class Frechet "
                               "distance, CAS and memorisation in features independent of the domain classifier, "
                               "each beside its real floor (about 30 s more); classifier: its figures only")
    evaluate.add_argument("--draws", type=_positive_int, default=5,
                          help="independent sample sets (seeds SEED, SEED+1, ...) averaged: one set's Frechet "
                               "distance varies by about 15%% from draw to draw (default 5)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        args.argv = argv
        if args.command is None:
            raise UsageError("a subcommand is required: presets, train, control, branch, sweep, sample, evaluate, "
                             "interpolate, export, export-tensorboard or compare")
        commands = {"presets": cmd_presets, "train": cli_train.cmd_train, "sample": cmd_sample, "evaluate": cmd_evaluate,
                    "control": cmd_control, "export-tensorboard": cmd_export_tensorboard, "sweep": cli_sweep.cmd_sweep,
                    "interpolate": cli_explore.cmd_interpolate, "export": cli_explore.cmd_export,
                    "branch": cli_branch.cmd_branch, "compare": cli_compare.cmd_compare}
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
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"cgan-studio: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_FILE
    except KeyboardInterrupt:  # `train` stops at a step and checkpoints itself; any other command ends here
        print("cgan-studio: interrupted (Ctrl-C): stopped; the run folder keeps what it had written "
              "(its newest checkpoint)", file=sys.stderr)
        return 130
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


def cmd_export_tensorboard(args) -> int:
    from cgan_core.compare.tensorboard import export_run

    if not is_run(args.run):
        raise UsageError(f"argument run: {args.run} is not a run directory (no config.json)")
    print(json.dumps({"tensorboard": str(export_run(args.run))}))
    return 0


def cmd_control(args) -> int:
    from cgan_core.run import commands
    from cgan_core.run.control import send

    if not is_run(args.run):
        raise UsageError(f"argument run: {args.run} is not a run directory (no config.json)")
    changes = {k: v for k, v in (("lr_g", args.lr_g), ("lr_d", args.lr_d)) if v is not None}
    sent = [commands.SetHParams(changes)] if changes else []
    sent += [c() for flag, c in ((args.pause, commands.Pause), (args.resume, commands.Resume),
                                 (args.stop, commands.Stop)) if flag]
    if bool(args.vary) != bool(args.steps):
        raise UsageError("--vary and --steps go together: e.g. --vary lr_d=0.3x,1x --steps 500")
    if args.vary:
        sent.append(commands.TryVariants(tuple(args.vary), args.steps))
    if args.choose is not None:
        sent.append(commands.ChooseVariant("" if args.choose == "keep" else args.choose))
    if not sent:
        raise UsageError("nothing to send: give --lr-g/--lr-d, --pause, --resume, --stop, --vary or --choose")
    for command in sent:
        print(json.dumps({"sent": type(command).__name__, "file": str(send(args.run, command))}))
    return 0


def _parse_labels(text: str, num_classes: int) -> torch.Tensor:
    try:
        labels = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UsageError(f"argument --labels: expected comma-separated class indices, got {text!r}") from None
    if not labels or any(not 0 <= label < num_classes for label in labels):
        raise UsageError(f"argument --labels: classes must be in 0..{num_classes - 1}, got {text!r}")
    return torch.tensor(labels, dtype=torch.int64)


SAMPLE_BATCH = 256  # images a forward: `sample` of many classes at a large size stays within memory
MAX_SAMPLE_BYTES = 2 * 2**30  # the uint8 images one `sample` writes


def cmd_sample(args) -> int:
    from cgan_core.output.checkpoint import load_generator
    from cgan_core.output.sampling import make_grid, save_png, to_uint8
    from cgan_core.run.folder_reader import generator_path

    suffix = args.out.suffix.lower()
    if suffix not in (".png", ".npz"):
        raise UsageError(f"argument --out: must end in .png or .npz, got {args.out}")
    g, info = load_generator(generator_path(args.generator))
    k = g.num_classes
    labels = _parse_labels(args.labels, k) if args.labels else None
    count = len(labels) if labels is not None else k * (args.per_class or 8)
    size = count * math.prod(g.image_shape)
    if size > MAX_SAMPLE_BYTES:  # before drawing anything: the images would not fit in memory or a file
        raise UsageError(f"argument --per-class/--labels: {count:,} images of {list(g.image_shape)} are "
                         f"{size / 2**30:.1f} GiB; at most {MAX_SAMPLE_BYTES // 2**30} GiB in one file")
    if labels is None:
        labels = torch.arange(k).repeat_interleave(args.per_class or 8)
    z = torch.randn(len(labels), g.latent_dim, generator=torch.Generator().manual_seed(args.seed))
    images = np.empty((len(labels), *g.image_shape), dtype=np.uint8)  # filled in place: no second copy
    with torch.no_grad():  # a bounded batch a forward, whatever the count asked for
        for i in range(0, len(labels), SAMPLE_BATCH):
            images[i:i + SAMPLE_BATCH] = to_uint8(g(z[i:i + SAMPLE_BATCH], labels[i:i + SAMPLE_BATCH]).float(),
                                                  info["output_range"]).numpy()
    if suffix == ".npz":
        pixels = images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)
        np.savez_compressed(args.out, images=pixels, labels=labels.numpy().astype(np.int64))
    else:
        columns = len(labels) if args.labels else (args.per_class or 8)
        save_png(args.out, make_grid(images, columns), scale=2)
    print(json.dumps({"out": str(args.out), "images": int(len(labels))}))
    return 0


def cmd_evaluate(args) -> int:
    from cgan_core.output.checkpoint import load_generator
    from cgan_core.output.evaluate import evaluate_generator
    from cgan_core.run.folder_reader import generator_path

    path = generator_path(args.generator)
    g, info = load_generator(path)
    print(f"scoring {path} (the domain classifier is trained once, then cached)", file=sys.stderr)
    print(json.dumps(evaluate_generator(g, info, per_class=args.per_class, seed=args.seed,
                                        dataset=info.get("dataset", "mnist"), draws=args.draws,
                                        independent=args.figures == "all")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
