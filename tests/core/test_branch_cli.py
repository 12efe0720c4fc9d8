"""`cgan-studio branch`: fork a run into variants, keep them, and continue from the one promoted."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from cgan_core.output.checkpoint import load_checkpoint
from cgan_core.run.folder_writer import RunFiles, checkpoint_files

TINY = ["--preset", "mlp-label-concat", "--batch-size", "16"]
IN_TURN = ["--processes", "1"]  # variants in turn in this process; one test below runs them in processes


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from cgan_core.cli.main import main

    out = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", *TINY, "--steps", "12", "--out", str(out)]) == 0
    return out


@pytest.fixture
def run_dir(trained, tmp_path):
    """A copy of the module's 12-step run, for a test to fork as it likes."""
    import shutil

    return Path(shutil.copytree(trained, tmp_path / "run"))


def rows(folder) -> list[dict]:
    with open(folder / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def events(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]


def test_branch_keeps_each_variant_and_leaves_the_run_as_it_was(run_dir, cli_here):
    before = [p.name for p in checkpoint_files(run_dir)]
    rc, out, err = cli_here("branch", run_dir, "--vary", "lr_d=0.5x,1x", "--steps", 10, *IN_TURN)
    assert rc == 0, err
    assert "| lr_d 0.5x | 10 |" in out and "| lr_d 1x | 10 |" in out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["promoted"] is None and summary["step"] == 12
    variants = sorted(p for p in (run_dir / "variants" / "step-12").iterdir() if p.is_dir())
    assert [p.name for p in variants] == ["1-lr_d0.5x", "2-lr_d1x"]
    assert "| lr_d 0.5x | 10 |" in (run_dir / "variants" / "step-12" / "results.md").read_text()
    for folder in variants:
        assert [int(r["step"]) for r in rows(folder)] == list(range(13, 23))
        assert [p.name for p in checkpoint_files(folder)] == ["step-000000022.pt"]
        assert (folder / "generator.safetensors").is_file()
    assert float(rows(variants[0])[0]["lr_d"]) == pytest.approx(0.5 * float(rows(variants[1])[0]["lr_d"]))
    assert [p.name for p in checkpoint_files(run_dir)] == before  # nothing of the run itself changed...
    assert [int(r["step"]) for r in rows(run_dir)][-1] == 12
    forked = [e for e in events(run_dir) if e["event"] == "forked"]  # ...but the record that it was forked
    assert forked[-1]["promoted"] is None and forked[-1]["variants"] == ["lr_d 0.5x", "lr_d 1x"]


def test_variants_in_processes_train_as_they_do_in_turn(run_dir, cli_here, tmp_path):
    """One process per variant (one thread each) gives each variant the same steps as taking turns in one
    process at one thread: the same rows, the same weights."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    rc, _, err = cli_here("branch", run_dir, "--vary", "lr_d=0.5x,1x", "--steps", 10, "--processes", 2)
    assert rc == 0 and "2 processes side by side" in err, err
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rc, _, err = cli_here("branch", copy, "--vary", "lr_d=0.5x,1x", "--steps", 10, "--processes", 1)
    finally:
        torch.set_num_threads(threads)
    assert rc == 0 and "processes side by side" not in err, err
    for name in ("1-lr_d0.5x", "2-lr_d1x"):
        apart, alone = run_dir / "variants" / "step-12" / name, copy / "variants" / "step-12" / name
        assert [{k: r[k] for k in ("step", "d1", "d2", "g")} for r in rows(apart)] == \
            [{k: r[k] for k in ("step", "d1", "d2", "g")} for r in rows(alone)]
        a, b = (load_checkpoint(checkpoint_files(f)[0]) for f in (apart, alone))
        assert all(torch.equal(x, y) for x, y in zip(a["g"].values(), b["g"].values()))


def test_promote_continues_the_run_from_the_variant(run_dir, cli_here):
    rc, out, err = cli_here("branch", run_dir, "--vary", "lr_d=0.5x,1x", "--steps", 10, "--promote", "lr_d 0.5x",
                            *IN_TURN)
    assert rc == 0, err
    newest = checkpoint_files(run_dir)[0]
    assert newest.name == "step-000000022.pt"
    variant = load_checkpoint(run_dir / "variants" / "step-12" / "1-lr_d0.5x" / "checkpoints" / newest.name)
    promoted = load_checkpoint(newest)
    assert all(torch.equal(promoted["g"][k], variant["g"][k]) for k in variant["g"])
    assert promoted["hparams"]["lr_d"] == variant["hparams"]["lr_d"]
    assert [int(r["step"]) for r in rows(run_dir)] == list(range(1, 23))
    changes = [e for e in events(run_dir) if e["event"] == "hparam"]
    assert changes[-1]["step"] == 12 and changes[-1]["name"] == "lr_d"
    rc, _, err = cli_here("train", "--resume", run_dir, "--steps", 25)  # the run goes on from the variant
    assert rc == 0, err
    assert [int(r["step"]) for r in rows(run_dir)][-1] == 25


@pytest.mark.parametrize("args, message", [
    (["--vary", "lr_q=1x,2x", "--steps", "5"], "lr_q is not a live hyperparameter"),
    (["--vary", "lr_d=1x,2x", "--steps", "0"], "--steps"),
    (["--vary", "lr_d=1x,2x", "--steps", "5", "--promote", "lr_d 3x"], "not one of the variants"),
    (["--vary", "lr_d=1x,2x,3x,4x,5x", "--steps", "5"], "a fork compares 2 to 4"),
])
def test_a_bad_branch_is_one_message_and_starts_nothing(run_dir, cli_here, args, message):
    rc, _, err = cli_here("branch", run_dir, *args)
    assert rc == 2 and message in err and "Traceback" not in err
    assert not (run_dir / "variants").exists()


def test_a_live_run_is_not_forked_behind_its_writer(run_dir, cli_here):
    writer = RunFiles(run_dir)  # as a live run holds it
    try:
        rc, _, err = cli_here("branch", run_dir, "--vary", "lr_d=0.5x,1x", "--steps", 5, *IN_TURN)
    finally:
        writer.close()
    assert rc == 1 and "another process writes this run" in err
    assert not (run_dir / "variants").exists()


def test_branch_of_a_folder_that_is_not_a_run(tmp_path, cli_here):
    rc, _, err = cli_here("branch", tmp_path, "--vary", "lr_d=0.5x,1x", "--steps", 5)
    assert rc == 2 and str(tmp_path) in err


def test_an_opened_run_shows_its_fork_and_a_hostile_fork_record_is_skipped(run_dir, cli_here):
    from cgan_core.run.events import Forked, from_line
    from cgan_core.run.folder_reader import load_history, replay

    rc, _, err = cli_here("branch", run_dir, "--vary", "lr_d=0.5x,1x", "--steps", 5, "--promote", "lr_d 1x", *IN_TURN)
    assert rc == 0, err
    forks = [e for e in replay(load_history(run_dir), []) if isinstance(e, Forked)]
    assert [f.label for f in forks] == ["forked into 2, went on with lr_d 1x"]
    for hostile in ('{"event": "forked", "step": 1, "horizon": 2, "variants": 5, "folder": "x"}',
                    '{"event": "forked", "step": "1", "horizon": 2, "variants": ["a"], "folder": "x"}',
                    '{"event": "forked", "step": 1, "horizon": 2, "variants": [1], "folder": "x", "promoted": 3}'):
        assert from_line(hostile) is None
