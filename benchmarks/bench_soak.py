"""Soak: every preset trains for minutes from the CLI under the default guard, as a user would run it.

    .venv/bin/python benchmarks/bench_soak.py --minutes 10 [--presets a,b] [--out DIR] [--guard off] [--nproc 2]

For each preset it records: the exit code (0 expected: no give-up), every rollback and advice with the
stats around it, the ranges of the stats each guard rule reads after the warm-up (so the table shows
how far each default bound is from what the recipe really does), the within-class diversity of the
saved grids against the real data's, and the domain classifier's accuracy on samples of the final
generator (`cgan-studio evaluate`). Prints a markdown table and writes soak.json in --out.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cgan_core.data import load_mnist  # noqa: E402
from cgan_core.output.metrics import within_class_diversity  # noqa: E402
from cgan_core.run import folder_reader  # noqa: E402
from cgan_core.run.events import to_record  # noqa: E402
from cgan_core.run.folder_writer import METRIC_COLUMNS  # noqa: E402
from cgan_core.run.guard import GuardConfig  # noqa: E402
from cgan_core.run.timelapse import load_timelapse  # noqa: E402
from cgan_core.step.presets import PRESETS, get_preset  # noqa: E402


def read_metrics(run_dir: Path) -> dict[str, np.ndarray]:
    """Every column of metrics.csv, the step's too, through the run folder's reader."""
    steps, columns = folder_reader.read_metrics(run_dir, METRIC_COLUMNS[1:], ())
    return {"step": steps.astype(np.float64), **columns}


def longest(mask: np.ndarray) -> int:
    best = run = 0
    for m in mask:
        run = run + 1 if m else 0
        best = max(best, run)
    return best


def rule_ranges(m: dict[str, np.ndarray], bounds: GuardConfig) -> dict:
    """What each rule reads, after the warm-up: the stats' ranges, the longest stretch each sustained
    condition held, and the largest gradient norm against its running median of 200 steps."""
    after = m["step"] > bounds.warmup
    if not after.any():  # a run shorter than the guard's warm-up: no rule read anything yet
        return {"steps_after_warmup": 0}
    d1, d2, g, dr, df = (m[k][after] for k in ("d1", "d2", "g", "d_real", "d_fake"))
    grad = np.maximum(m["grad_d"], m["grad_g"])
    ratios = [grad[i] / np.median(grad[max(0, i - 200):i]) for i in range(len(grad)) if after[i] and i >= 20]
    dominance = (d1 < bounds.d_loss_floor) & (d2 < bounds.d_loss_floor) & (dr > bounds.d_real_ceiling) & (
        df < bounds.d_fake_floor)
    return {"d1": [float(d1.min()), float(np.median(d1)), float(d1.max())],
            "d2": [float(d2.min()), float(np.median(d2)), float(d2.max())],
            "g": [float(g.min()), float(np.median(g)), float(g.max())],
            "dominance_longest": longest(dominance), "g_high_longest": longest(g > bounds.g_ceiling),
            "spike_ratio_max": float(max(ratios)) if ratios else 0.0}


def grid_diversity(run_dir: Path, real: np.ndarray, warmup: int) -> list[float]:
    """Per-class within-class diversity of each saved grid (8 samples a class) against the real data:
    [lowest class ratio, median, highest], over the grids after the warm-up (the learnt classes)."""
    lows, highs, medians = [], [], []
    for step, frame in load_timelapse(run_dir):
        if step <= warmup:
            continue
        image = frame[:, :, 0].astype(np.float32) / 255.0 if frame.shape[2] == 1 else frame.astype(np.float32) / 255.0
        rows, cell = 10, image.shape[0] // 10
        cells = [image[r * cell + 1:(r + 1) * cell - 1, c * cell + 1:(c + 1) * cell - 1]
                 for r in range(rows) for c in range(image.shape[1] // cell)]
        import torch

        images = torch.tensor(np.stack(cells))
        labels = torch.arange(rows).repeat_interleave(len(cells) // rows)
        ratio = within_class_diversity(images, labels, rows) / real
        lows.append(ratio.min()), medians.append(np.median(ratio)), highs.append(ratio.max())
    return [float(min(lows)), float(np.median(medians)), float(max(highs))] if lows else []


def real_diversity() -> np.ndarray:
    import torch

    data = load_mnist("train")
    picks = torch.cat([torch.nonzero(data.labels == c).flatten()[:64] for c in range(10)])
    return within_class_diversity(data.images[picks].float() / 255.0, data.labels[picks], 10)


def soak(preset: str, minutes: float, out: Path, guard: str, nproc: int = 1) -> dict:
    run_dir = out / preset
    cmd = [sys.executable, "-m", "cgan_core", "train", "--preset", preset, "--max-seconds", str(minutes * 60),
           "--out", str(run_dir), "--guard", guard, *(["--nproc", str(nproc)] if nproc > 1 else [])]
    start = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - start
    events = [to_record(e) for e in folder_reader.read_events(run_dir)]
    m = read_metrics(run_dir)
    bounds = GuardConfig.for_loss(get_preset(preset).loss, **get_preset(preset).guard)
    around = []
    for e in events:
        if e["event"] in ("rollback", "advice"):
            at = e.get("from_step", e.get("step"))
            near = (m["step"] > at - 30) & (m["step"] <= at)
            around.append({**e, "stats_before": {k: [round(float(v), 4) for v in m[k][near][-3:]]
                                                 for k in ("d1", "d2", "g", "grad_d", "grad_g")}})
    score = subprocess.run([sys.executable, "-m", "cgan_core", "evaluate", str(run_dir)], capture_output=True,
                           text=True)
    accuracy = json.loads(score.stdout.strip().splitlines()[-1])["accuracy"] if score.returncode == 0 else None
    return {"preset": preset, "exit": result.returncode, "wall_s": round(wall, 1), "steps": int(m["step"][-1]),
            "gave_up": any(e["event"] == "guard_gave_up" for e in events),
            "rollbacks": [e for e in around if e["event"] == "rollback"],
            "advice": [e for e in around if e["event"] == "advice"],
            "ranges": rule_ranges(m, bounds), "diversity": grid_diversity(run_dir, REAL, bounds.warmup),
            "accuracy": accuracy, "stderr_tail": result.stderr.strip().splitlines()[-2:]}


def replay(run_dir: Path, preset: str) -> list[str]:
    """The recorded stats of a run (its live line, after any rollback) read again by the current
    guard's rules, as the run read them: what each rule would decide now. Exact for every rule on the
    step stats (all but class collapse, which reads samples)."""
    from cgan_core.run.events import LossChunk
    from cgan_core.run.folder_reader import split_branches
    from cgan_core.run.guard import DivergenceGuard
    from cgan_core.step.trainer import STAT_NAMES

    m = read_metrics(run_dir)
    live, _ = split_branches(m["step"].astype(np.int64))
    values = np.stack([m[n][live] for n in STAT_NAMES], 1).astype(np.float32)
    steps = m["step"][live].astype(np.int64)
    bounds = GuardConfig.for_loss(get_preset(preset).loss, **get_preset(preset).guard)
    guard = DivergenceGuard(bounds, np.ones(10), 10)
    found = []
    for start in range(0, len(steps), 10):
        chunk = LossChunk(steps[start:start + 10], values[start:start + 10], STAT_NAMES, 0.0, 0, 0.0, 0.0)
        found += [f"{d.action} {d.finding.reason} @{d.finding.since}" for d in guard.check_chunk(chunk)]
    return found


def table(results: list[dict]) -> str:
    lines = ["| preset | minutes | steps | exit | rollbacks | advice | d1 min/med/max | d2 min/med/max | "
             "g min/med/max | longest D-dominance / g-high | max grad / median | diversity low/med/high | "
             "accuracy |", "|" + "---|" * 13]
    for r in results:
        q = r["ranges"]
        fmt = lambda xs: "/".join(f"{x:.3g}" for x in xs)  # noqa: E731
        rollbacks = ", ".join(f"{e['reason']} @{e['from_step']}" for e in r["rollbacks"]) or "0"
        advice = ", ".join(f"{e['reason']} @{e['step']}" for e in r["advice"]) or "0"
        acc = f"{r['accuracy']:.1%}" if r["accuracy"] is not None else "n/a"
        read = (f"{fmt(q['d1'])} | {fmt(q['d2'])} | {fmt(q['g'])} | {q['dominance_longest']} / {q['g_high_longest']} | "
                f"{q['spike_ratio_max']:.1f}" if "d1" in q else "- | - | - | within the warm-up | -")
        lines.append(f"| {r['preset']} | {r['wall_s'] / 60:.1f} | {r['steps']} | {r['exit']} | {rollbacks} | {advice} | "
                     f"{read} | {fmt(r['diversity'])} | {acc} |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--out", type=Path, default=Path("runs/soak"))
    parser.add_argument("--guard", choices=["on", "off"], default="on")
    parser.add_argument("--nproc", type=int, default=1, help="a distributed run of N processes (torch.distributed)")
    parser.add_argument("--replay", type=Path, help="only read RUN_DIR's recorded stats again with today's rules")
    args = parser.parse_args()
    if args.replay:
        preset = folder_reader.read_config(args.replay)["preset"]
        print(json.dumps({"run": str(args.replay), "preset": preset, "decisions": replay(args.replay, preset)}))
        sys.exit(0)
    REAL = real_diversity()
    results = []
    for name in args.presets.split(","):
        results.append(soak(name, args.minutes, args.out, args.guard, args.nproc))
        print(json.dumps({k: v for k, v in results[-1].items() if k not in ("rollbacks", "advice")}), flush=True)
        (args.out / "soak.json").write_text(json.dumps(results, indent=1))
    print(table(results))
