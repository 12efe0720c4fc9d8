"""Does the selection agree with figures it never saw? Each run's last generator and its best one by live
quality are scored by `evaluate` with every figure: the domain classifier's accuracy and Fréchet distance
over the floor, and, in a random CNN's features, KID, precision, recall, density, coverage, intra-class
Fréchet distance, CAS and memorisation (issue 26). The last column says whether the generator the live
figure chose is also the better of it and the last one by the offline independent figures (lower KID and
intra-class FD, higher coverage and CAS: a majority of the four).

One command trains and scores (run it alone on the machine):

    .venv/bin/python -m benchmarks.bench_independent --train all --seeds studio-fast=0,1,2 --minutes 10 \
        --out /tmp/independent

For each preset (all: every seed preset; or a comma list) it trains two runs of the same seed side by side,
one CPU core and torch thread each, live quality on (auto): one picks its best generator by the classifier
(--best-by classifier), the other by the live independent figure (--best-by independent, the per-class
Fréchet distance in random features). The runs train on the same batches from the same seed (to within
where --max-seconds stops each), so the rows compare the two rules on one training. Or score runs trained beforehand:

    .venv/bin/python -m benchmarks.bench_independent RUN [RUN ...] [--per-class 1000]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.bench_fork_case import run
from benchmarks.pairs import train_side_by_side
from cgan_core.run.folder_reader import generator_path
from cgan_core.step.presets import PRESETS

COLUMNS = ("accuracy", "FD/floor", "KID x1e3", "precision", "recall", "density", "coverage", "intra-FD", "CAS",
           "memorised")
RULES = ("classifier", "independent")


def figures(generator: Path, per_class: int) -> dict:
    result = json.loads(run("evaluate", generator, "--per-class", per_class, "--draws", 1).strip().splitlines()[-1])
    made = result["independent"]["generated"]
    return {"accuracy": result["accuracy"], "FD/floor": result["frechet_vs_floor"], "KID x1e3": made["kid"] * 1e3,
            "precision": made["precision"], "recall": made["recall"], "density": made["density"],
            "coverage": made["coverage"], "intra-FD": made["intra_frechet"], "CAS": made["cas"],
            "memorised": made["memorised"], "floor": result["independent"]["real_floor"]}


def agrees(best: dict, last: dict) -> str:
    """Whether best is the better of the two by a majority of the four independent figures."""
    votes = [best["KID x1e3"] < last["KID x1e3"], best["intra-FD"] < last["intra-FD"],
             best["coverage"] > last["coverage"], best["CAS"] > last["CAS"]]
    return f"{'yes' if sum(votes) >= 3 else 'no'} ({sum(votes)}/4)"


def train_pair(preset: str, minutes: float, seed: int, out: Path) -> dict[str, Path]:
    """The preset trained twice at once, one core each, the best chosen by each rule (folders by rule)."""
    dirs = train_side_by_side({f"{preset}-seed{seed}-{rule}": ["--preset", preset, "--seed", seed, "--max-seconds",
                                                               minutes * 60, "--quality-every", "auto", "--best-by",
                                                               rule] for rule in RULES}, out)
    return {rule: dirs[f"{preset}-seed{seed}-{rule}"] for rule in RULES}


def seeds_by_preset(presets: list[str], seed: int, more: list[str]) -> list[tuple[str, int]]:
    """(preset, seed) pairs to train: each preset with --seed, and PRESET=S1,S2 from --seeds instead."""
    chosen = {preset: [seed] for preset in presets}
    for item in more:
        preset, _, seeds = item.partition("=")
        if preset not in chosen or not all(s.strip().isdigit() for s in seeds.split(",")):
            raise SystemExit(f"--seeds {item!r}: expected PRESET=SEED,SEED with PRESET one of --train's")
        chosen[preset] = [int(s) for s in seeds.split(",")]
    return [(preset, s) for preset, seeds in chosen.items() for s in seeds]


def rows(label: str, generators: dict[str, Path], per_class: int) -> tuple[list[str], dict]:
    """Table rows: each generator's figures; the best ones say whether the offline figures agree."""
    scored = {name: figures(path, per_class) for name, path in generators.items()}
    lines = []
    for name, values in scored.items():
        cells = " | ".join(f"{values[c]:.3f}" if c != "accuracy" else f"{values[c]:.1%}" for c in COLUMNS)
        verdict = agrees(values, scored["last"]) if name != "last" else ""
        lines.append(f"| {label} | {name} | {cells} | {verdict} |")
    return lines, scored["last"]["floor"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", type=Path, nargs="*", help="run folders trained beforehand")
    parser.add_argument("--train", help="all, or a comma list of presets: train each as a pair (one rule each)")
    parser.add_argument("--minutes", type=float, default=10.0, help="CPU-minutes of each run (--train)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", action="append", default=[], metavar="PRESET=S,S",
                        help="train PRESET with each of these seeds instead of --seed (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/independent"))
    parser.add_argument("--per-class", type=int, default=1000)
    args = parser.parse_args()
    print("| run | generator | " + " | ".join(COLUMNS) + " | best also best independently |")
    print("|---" * (len(COLUMNS) + 3) + "|", flush=True)
    floor = None
    for folder in args.runs:
        lines, floor = rows(folder.name, {"last": generator_path(folder), "best": generator_path(folder / "best")},
                            args.per_class)
        print("\n".join(lines), flush=True)
    presets = [] if not args.train else list(PRESETS) if args.train == "all" else args.train.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    for preset, seed in seeds_by_preset(presets, args.seed, args.seeds):
        dirs = train_pair(preset, args.minutes, seed, args.out)
        generators = {"last": generator_path(dirs["classifier"]),
                      **{f"best by {rule}": generator_path(dirs[rule] / "best") for rule in RULES}}
        lines, floor = rows(f"{preset} seed {seed}", generators, args.per_class)
        print("\n".join(lines), flush=True)
    if floor is not None:
        cells = " | ".join(["", "1.000", f"{floor['kid'] * 1e3:.3f}"] + [f"{floor[k]:.3f}" for k in
                           ("precision", "recall", "density", "coverage", "intra_frechet", "cas", "memorised")])
        print(f"| real floor | real training images |{cells} | |")


if __name__ == "__main__":
    main()
