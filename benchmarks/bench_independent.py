"""Does the selection agree with figures it never saw? For each run folder given, its last generator and its
best one by live quality (chosen with the domain classifier) are scored by `evaluate` with every figure:
the classifier's accuracy and Fréchet distance over the floor, and, in a random CNN's features, KID,
precision, recall, density, coverage, intra-class Fréchet distance, CAS and memorisation (issue 26).
The last column says whether the generator the live figure chose is also the better of the two by the
independent ones (lower KID and intra-class FD, higher coverage and CAS: a majority of the four). Run it
alone, on runs trained beforehand (e.g. bench_autotune's fixed runs, bench_soak's presets):

    .venv/bin/python -m benchmarks.bench_independent RUN [RUN ...] [--per-class 1000]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.bench_fork_case import run

COLUMNS = ("accuracy", "FD/floor", "KID x1e3", "precision", "recall", "density", "coverage", "intra-FD", "CAS",
           "memorised")


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--per-class", type=int, default=1000)
    args = parser.parse_args()
    print("| run | generator | " + " | ".join(COLUMNS) + " | best also best independently |")
    print("|---" * (len(COLUMNS) + 3) + "|", flush=True)
    floor = None
    for folder in args.runs:
        scored = {name: figures(folder / f"{name}.safetensors", args.per_class) for name in ("generator", "best")}
        floor = scored["generator"]["floor"]
        for name, values in scored.items():
            cells = " | ".join(f"{values[c]:.3f}" if c != "accuracy" else f"{values[c]:.1%}" for c in COLUMNS)
            verdict = agrees(scored["best"], scored["generator"]) if name == "best" else ""
            print(f"| {folder.name} | {name} | {cells} | {verdict} |", flush=True)
    if floor is not None:
        cells = " | ".join(["", "1.000", f"{floor['kid'] * 1e3:.3f}"] + [f"{floor[k]:.3f}" for k in
                           ("precision", "recall", "density", "coverage", "intra_frechet", "cas", "memorised")])
        print(f"| real floor | real training images |{cells} | |")


if __name__ == "__main__":
    main()
