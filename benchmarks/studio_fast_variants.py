"""studio-fast with one recipe change, trained and scored in one process, the way the CLI does it.

A variant of the discriminator's width or the mode-seeking weight is not a setting a user can pass, so
this script registers a patched copy of the preset under its own name, then runs `cgan-studio train`
and `cgan-studio evaluate` on it (the run directory only opens in a process that registered the same
variant). The loss and the batch size are ordinary settings; they are here so that one command compares
them all.

    .venv/bin/python -m benchmarks.studio_fast_variants --out R --max-seconds 600 --seed 0 \
        [--d-width 128] [--loss hinge] [--batch-size 128] [--mode-seeking 0] [--draws 20]
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

from cgan_core.cli import main as cli
from cgan_core.step import presets
from cgan_core.step.nets_conv import ProjectionDiscriminator

VARIANT = "studio-fast-variant"


def register(d_width: int | None, loss: str | None, mode_seeking: float | None) -> None:
    """PRESETS[VARIANT]: studio-fast with the given changes (None keeps the preset's own)."""
    base = presets.PRESETS["studio-fast"]
    changes: dict = {"name": VARIANT}
    if d_width is not None:
        # The preset's arch_kwargs give G and D one width; this D takes its own and ignores the shared one.
        presets.ARCHITECTURES["VariantDiscriminator"] = (
            lambda num_classes, image_shape, width=64: ProjectionDiscriminator(num_classes, image_shape, width=d_width))
        changes["discriminator"] = "VariantDiscriminator"
    if loss is not None:
        changes["loss"] = loss
    if mode_seeking is not None:
        changes["mode_seeking"] = mode_seeking
    presets.PRESETS[VARIANT] = dataclasses.replace(base, **changes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--max-seconds", default="600")
    parser.add_argument("--seed", default="0")
    parser.add_argument("--d-width", type=int)
    parser.add_argument("--loss", choices=("bce", "hinge"))
    parser.add_argument("--batch-size")
    parser.add_argument("--mode-seeking", type=float)
    parser.add_argument("--draws", default="5")
    args = parser.parse_args(argv)
    if args.d_width is not None and (args.d_width < 2 or args.d_width % 2):
        parser.error(f"--d-width: {args.d_width} is not an even width >= 2 (its first layer has half as many channels)")
    if args.mode_seeking is not None and not args.mode_seeking >= 0:
        parser.error(f"--mode-seeking: {args.mode_seeking} is not a weight >= 0")
    register(args.d_width, args.loss, args.mode_seeking)
    train = ["train", "--preset", VARIANT, "--max-seconds", args.max_seconds, "--seed", args.seed, "--out", args.out]
    if args.batch_size:
        train += ["--batch-size", args.batch_size]
    status = cli.main(train)
    return status or cli.main(["evaluate", args.out, "--draws", args.draws])


if __name__ == "__main__":
    sys.exit(main())
