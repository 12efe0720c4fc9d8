"""The CLI's steering and export commands: `interpolate` and `export`.

    cgan-studio interpolate GENERATOR --from 6 --to 1 --frames 50 --out anim.gif
    cgan-studio interpolate GENERATOR --class 3 --seed 0 --seed-to 7 --out walk.gif
    cgan-studio export GENERATOR --format onnx|safetensors|checkpoint --out FILE
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from cgan_core.errors import UsageError


def add_commands(sub, positive_int, positive_float) -> None:
    interp = sub.add_parser("interpolate", help="a class-to-class or z animation as GIF (or PNG strip)")
    interp.add_argument("generator", type=Path)
    interp.add_argument("--from", dest="from_class", type=int, help="start class (class interpolation)")
    interp.add_argument("--to", dest="to_class", type=int, help="end class (class interpolation)")
    interp.add_argument("--class", dest="walk_class", type=int, help="the class of a z walk")
    interp.add_argument("--seed", type=int, default=0, help="z (class interpolation) or the walk's start")
    interp.add_argument("--seed-to", type=int, help="the z walk's end")
    interp.add_argument("--frames", type=positive_int, default=50)
    interp.add_argument("--fps", type=positive_float, default=15.0)
    interp.add_argument("--scale", type=positive_int, default=4, help="nearest-neighbour upscaling")
    interp.add_argument("--truncation", type=float, default=1.0, help="psi in (0, 1]: pull z toward the mean")
    interp.add_argument("--out", type=Path, required=True)
    export = sub.add_parser("export", help="write a generator as ONNX or safetensors, or a run's checkpoint")
    export.add_argument("generator", type=Path, help="generator.safetensors or a run directory")
    export.add_argument("--format", choices=["onnx", "safetensors", "checkpoint"], required=True)
    export.add_argument("--opset", type=int, default=17)
    export.add_argument("--out", type=Path, required=True)


def interpolation_frames(g, info: dict, args) -> np.ndarray:
    """uint8 (T, H, W, C) frames for the request in `args`; usage errors name the flag."""
    import torch

    from cgan_core.output.latent import class_interpolation, noise, truncate, z_walk
    from cgan_core.output.sampling import to_uint8

    k = g.num_classes
    for flag, value in (("--from", args.from_class), ("--to", args.to_class), ("--class", args.walk_class)):
        if value is not None and not 0 <= value < k:
            raise UsageError(f"argument {flag}: classes are 0..{k - 1}, got {value}")
    if not 0 < args.truncation <= 1:
        raise UsageError(f"argument --truncation: must be in (0, 1], got {args.truncation}")
    z = truncate(noise(g.latent_dim, args.seed), args.truncation)[0]
    if args.walk_class is not None:
        if args.seed_to is None or args.from_class is not None or args.to_class is not None:
            raise UsageError("a z walk takes --class, --seed and --seed-to (and no --from/--to)")
        z_end = truncate(noise(g.latent_dim, args.seed_to), args.truncation)[0]
        images = z_walk(g, args.walk_class, z, z_end, args.frames)
    elif args.from_class is None or args.to_class is None:
        raise UsageError("give --from and --to (class interpolation), or --class with --seed-to (z walk)")
    else:
        images = class_interpolation(g, z, args.from_class, args.to_class, args.frames)
    with torch.no_grad():
        return to_uint8(images, info["output_range"]).permute(0, 2, 3, 1).numpy()


def cmd_interpolate(args) -> int:
    from cgan_core.output.checkpoint import load_generator
    from cgan_core.output.gif import save_gif
    from cgan_core.output.sampling import save_png
    from cgan_core.run.folder_reader import generator_path

    suffix = args.out.suffix.lower()
    if suffix not in (".gif", ".png"):
        raise UsageError(f"argument --out: must end in .gif or .png, got {args.out}")
    g, info = load_generator(generator_path(args.generator))
    frames = interpolation_frames(g, info, args)
    if suffix == ".gif":
        save_gif(args.out, frames, fps=args.fps, scale=args.scale)
    else:  # a strip, left to right
        strip = np.concatenate(list(frames), axis=1)
        save_png(args.out, strip, scale=args.scale)
    print(json.dumps({"out": str(args.out), "frames": len(frames), "size": [int(frames.shape[2] * args.scale),
                                                                            int(frames.shape[1] * args.scale)]}))
    return 0


def cmd_export(args) -> int:
    from cgan_core.output.checkpoint import atomic_write_bytes, load_generator, save_generator
    from cgan_core.run.folder_reader import generator_path

    if args.format == "checkpoint":
        from cgan_core.run.training_run import latest_checkpoint

        source, _ = latest_checkpoint(args.generator)  # loaded (allow-list scan, weights_only) before the copy
        atomic_write_bytes(args.out, source.read_bytes())
        print(json.dumps({"out": str(args.out), "source": str(source)}))
        return 0
    g, info = load_generator(generator_path(args.generator))
    if args.format == "onnx":
        from cgan_core.output.onnx_export import export_onnx

        print(json.dumps(export_onnx(g, args.out, info, opset=args.opset)))
        return 0
    keep = {k: v for k, v in info.items() if k not in ("format", "architecture", "kwargs", "class_names",
                                                      "image_shape", "output_range", "polarity")}
    save_generator(args.out, g, info["class_names"], keep)
    print(json.dumps({"out": str(args.out), "architecture": type(g).__name__}))
    return 0



