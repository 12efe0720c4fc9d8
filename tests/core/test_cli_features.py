"""Features reached through the CLI's flags, each through main() as a user's command runs it: live quality
(--quality-every) with the best generator picked by --best-by independent, --autotune, branch --promote best,
and evaluate to its figures. On a small real MNIST folder, whose domain classifier trains in seconds once."""
from __future__ import annotations

import csv
import json

import pytest

from cgan_core.output.checkpoint import read_generator_metadata
from cgan_core.run.folder_writer import checkpoint_files

TINY = ["--preset", "studio-fast", "--batch-size", "16"]


def rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def events(run) -> list[dict]:
    return [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def measured_run(tmp_path_factory, small_mnist_folder):
    """24 steps with quality measured every 6, the best generator picked by the independent figure."""
    from cgan_core.cli.main import main

    run = tmp_path_factory.mktemp("measured") / "r"
    rc = main(["train", *TINY, "--dataset", str(small_mnist_folder), "--steps", "24", "--quality-every", "6",
               "--best-by", "independent", "--out", str(run)])
    assert rc == 0
    return run


def test_quality_every_measures_and_best_by_independent_keeps_the_best_by_that_figure(measured_run):
    measured = rows(measured_run / "quality.csv")
    assert [int(r["step"]) for r in measured] == [6, 12, 18, 24]
    # The independent rule: the lowest mean per-class Frechet distance in random features, over its floor.
    names = [k for k in measured[0] if k.startswith("ifd_")]
    score = {int(r["step"]): sum(float(r[k]) for k in names) / len(names) / float(r["intra_floor"]) for r in measured}
    best = read_generator_metadata(measured_run / "best.safetensors")
    assert int(best["step"]) == min(score, key=score.get)
    assert json.loads((measured_run / "config.json").read_text())["best_by"] == "independent"


def test_branch_promote_best_goes_on_from_the_variant_live_quality_ranks_first(measured_run, tmp_path, cli_here):
    import shutil

    run = tmp_path / "r"
    shutil.copytree(measured_run, run)
    rc, out, err = cli_here("branch", run, "--vary", "lr_d=0.25x,1x", "--steps", 6, "--processes", 1,
                            "--promote", "best")
    assert rc == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["promoted"] in ("lr_d 0.25x", "lr_d 1x")
    results = (run / "variants" / "step-24" / "results.md").read_text()
    assert summary["promoted"] in results
    assert checkpoint_files(run)[0].name == "step-000000030.pt"  # the run went on from the variant
    forked = [e for e in events(run) if e["event"] == "forked"]
    assert forked[-1]["promoted"] == summary["promoted"]


def test_autotune_forks_on_its_cadence_and_the_run_goes_on_from_each_choice(tmp_path, small_mnist_folder, cli_here):
    run = tmp_path / "r"
    rc, out, err = cli_here("train", *TINY, "--dataset", small_mnist_folder, "--steps", 40, "--autotune", "every=16",
                            "around=lr_d,lr_g", "steps=4", "--out", run)
    assert rc == 0, err
    forks = [e for e in events(run) if e["event"] == "forked"]
    assert [f["step"] for f in forks] == [16, 32]
    assert sorted(f["variants"][0].split()[0] for f in forks) == ["lr_d", "lr_g"]  # the names take turns
    assert all(len(f["variants"]) == 3 and f["promoted"] in f["variants"] for f in forks)
    assert [int(r["step"]) for r in rows(run / "metrics.csv")] == list(range(1, 41))
    assert json.loads(out.strip().splitlines()[-1])["steps"] == 40


def test_evaluate_scores_a_generator_with_every_figure(measured_run, cli_here):
    rc, out, err = cli_here("evaluate", measured_run, "--per-class", 10, "--draws", 1)
    assert rc == 0, err
    figures = json.loads(out)
    assert 0 <= figures["accuracy"] <= 1 and set(figures["per_class_accuracy"]) == {str(i) for i in range(10)}
    assert figures["frechet_distance"] > 0 and figures["frechet_floor_real_vs_real"] > 0
    independent = figures["independent"]  # --figures all: in a random network's features, beside its real floor
    for name in ("kid", "precision", "recall", "density", "coverage", "cas", "memorised"):
        assert name in independent["generated"] and name in independent["real_floor"], name
    rc, out, err = cli_here("evaluate", measured_run / "best", "--figures", "classifier", "--per-class", 10, "--draws", 1)
    assert rc == 0, err
    assert "independent" not in json.loads(out) and "accuracy" in json.loads(out)
