"""`cgan-studio compare R1 R2 [...] --out FILE.png|FILE.gif`: runs side by side by what they draw.

A PNG holds each run's recorded grid at one step (the last all reached, `--step N`, or the step each had
reached after `--seconds S` of training), or with `--same-noise` each run's generator (`--best`: its best)
drawn on one shared z. A GIF (`--gif`) steps every run together through its recorded grids. A sweep folder
or a fork's variants folder may be given whole. Nothing is written into the runs compared.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

from cgan_core.compare import images
from cgan_core.errors import UsageError
from cgan_core.output.gif import save_gif
from cgan_core.output.safe_files import atomic_write_bytes


def add_command(sub, positive_int, positive_float) -> None:
    compare = sub.add_parser("compare", help="runs side by side by what they draw: grids at a matching step or "
                                             "time, on one shared noise, or through training as a GIF")
    compare.add_argument("runs", type=Path, nargs="+", help="2 to 6 run folders, or a sweep or variants folder")
    compare.add_argument("--out", type=Path, required=True, help="FILE.png, or FILE.gif with --gif")
    at = compare.add_mutually_exclusive_group()
    at.add_argument("--step", type=positive_int, help="each run's grid nearest this step (default: the last step "
                                                      "every run reached)")
    at.add_argument("--seconds", type=positive_float, help="each run's grid at the step it had reached after this "
                                                           "much training time")
    at.add_argument("--same-noise", action="store_true",
                    help="draw every run's generator on one shared z and the same labels instead of its grids")
    at.add_argument("--gif", action="store_true", help="every run stepping together through its grids, as a GIF")
    compare.add_argument("--best", action="store_true", help="with --same-noise: each run's best generator")


def cmd_compare(args) -> int:
    suffix = args.out.suffix.lower()
    if suffix != (".gif" if args.gif else ".png"):
        raise UsageError(f"argument --out: must end in {'.gif with --gif' if args.gif else '.png'}, got {args.out}")
    if args.best and not args.same_noise:
        raise UsageError("argument --best: draws each run's best generator, with --same-noise")
    runs = images.expand(args.runs)
    if args.gif:
        frames = images.timeline_frames([images.read_record(run) for run in runs])
        save_gif(args.out, frames, fps=8)
        shown = len(frames)
    else:
        columns = (images.same_noise_columns(runs, args.best) if args.same_noise
                   else images.recorded_columns([images.read_record(run) for run in runs], args.step, args.seconds))
        buffer = io.BytesIO()
        Image.fromarray(images.compose(columns)).save(buffer, format="PNG")
        atomic_write_bytes(args.out, buffer.getvalue())
        shown = 1
    print(json.dumps({"out": str(args.out), "runs": [str(r) for r in runs], "frames": shown}))
    return 0
