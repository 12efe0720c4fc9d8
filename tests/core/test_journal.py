"""Issue 43: multi-step changes to a run folder survive a kill at any point. Each operation of a branch and
of an adoption is made to fail in turn (a kill -9 between two operations leaves the folder as this does:
every write is atomic), then the folder is opened again, as the next resume opens it."""
from __future__ import annotations

import itertools

import pytest

from cgan_core.output import checkpoint as ckpt
from cgan_core.output import safe_files as safe
from cgan_core.run import journal
from cgan_core.run.events import Forked, HParamChange, RolledBack
from cgan_core.run.folder_reader import changes_in_force, read_events, read_metrics
from cgan_core.run.folder_writer import RunFiles, checkpoint_files, checkpoint_step


class Killed(BaseException):
    """Raised in place of the n-th file operation: nothing after it runs, as after a kill -9."""


def kill_at(monkeypatch, n: int | None):
    """The n-th file operation fails (None: none does); returns the counter of operations."""
    count = itertools.count()
    for module, name in ((ckpt, "atomic_write_bytes"), (safe, "move"), (safe, "open_append"), (safe, "remove"),
                         (safe, "make_folder")):
        original = getattr(module, name)

        def operation(*args, _original=original, **kwargs):
            if next(count) == n:
                raise Killed
            return _original(*args, **kwargs)
        monkeypatch.setattr(module, name, operation)
    return count


def row(step: int) -> dict:
    return {"step": step, "d1": 0.5, "d2": 0.5, "g": 1.0}


def trained(run) -> RunFiles:
    """Six steps, checkpoints at 2, 4 and 6, a grid at each."""
    files = RunFiles(run)
    files.write_metrics([row(s) for s in range(1, 7)])
    for step in (2, 4, 6):
        files.save_checkpoint({"step": step, "hparams": {"lr_d": 1e-4}}, step)
    (run / "grids").mkdir()
    for step in range(1, 7):
        (run / "grids" / f"step-{step:09d}.png").write_bytes(b"png")
    return files


def reopened(files: RunFiles) -> RunFiles:
    files.close()
    return RunFiles(files.run_dir)


def steps_in(folder) -> list[int]:
    return sorted(checkpoint_step(p) for p in folder.glob("step-*.pt"))


def branch_operations(tmp_path, monkeypatch) -> int:
    files = trained(tmp_path / "count")
    with monkeypatch.context() as m:
        count = kill_at(m, None)
        files.branch(2, lambda newest: RolledBack(newest, 2, "manual", 1e-4, 1e-4, True))
        files.write_metrics([row(3)])
    files.close()
    return next(count)


def test_a_branch_killed_at_any_point_is_completed_and_loses_no_row(tmp_path, monkeypatch):
    operations = branch_operations(tmp_path, monkeypatch)
    assert operations >= 8  # claim, journal, moves, rows, event, clear
    for n in range(operations):
        run = tmp_path / f"kill-{n}"
        files = trained(run)
        with monkeypatch.context() as m:
            kill_at(m, n)
            with pytest.raises(Killed):
                files.branch(2, lambda newest: RolledBack(newest, 2, "manual", 1e-4, 1e-4, True))
                files.write_metrics([row(3)])  # the branch's first row
        files = reopened(files)
        begun = files.branch_pending or any(isinstance(e, RolledBack) for e in read_events(run))
        rollbacks = [e for e in read_events(run) if isinstance(e, RolledBack)]
        steps = read_metrics(run, ("d1",), ())[0].tolist()
        assert steps[:6] == [1, 2, 3, 4, 5, 6], n  # no row of the abandoned stretch is lost
        if begun:
            assert len(rollbacks) == 1 and rollbacks[0].to_step == 2, n  # logged once, however often replayed
            assert [checkpoint_step(p) for p in checkpoint_files(run)] == [2], n
            [aside] = (run / "abandoned").iterdir()
            assert steps_in(aside / "checkpoints") == [4, 6], n
            assert sorted(p.name for p in (aside / "grids").iterdir())[-1] == "step-000000006.png", n
        else:  # killed before the journal: nothing changed, the user's resume branches again
            assert not rollbacks and steps_in(run / "checkpoints") == [2, 4, 6], n
        files.close()
        files = RunFiles(run)  # a second open changes nothing more
        assert len([e for e in read_events(run) if isinstance(e, RolledBack)]) == len(rollbacks), n
        files.close()


def test_an_adoption_killed_at_any_point_never_tells_another_story_than_the_state(tmp_path, monkeypatch):
    """Promote and live adopt: the checkpoint commits the change, then the hyperparameter events are logged.
    Killed between, the history said one value and the run trained with another; now the next open logs
    what is missing, or drops the change when its checkpoint was never written."""
    events = [HParamChange(2, "lr_d", 1e-4, 2e-4), Forked(2, 3, ("a", "b"), "variants/step-2", "b")]
    for n in range(6):
        run = tmp_path / f"kill-{n}"
        files = RunFiles(run)
        files.write_metrics([row(1), row(2)])
        files.save_checkpoint({"step": 2, "hparams": {"lr_d": 1e-4}}, 2)

        def write(files=files) -> None:
            files.write_metrics([row(3), row(4), row(5)])
            files.save_checkpoint({"step": 5, "hparams": {"lr_d": 2e-4}}, 5)
        with monkeypatch.context() as m:
            kill_at(m, n)
            try:
                files.adopt(5, events, write)
            except Killed:
                pass
        files = reopened(files)
        changes = changes_in_force(read_events(run))
        forks = [e for e in read_events(run) if isinstance(e, Forked)]
        if files.has_checkpoint(5):
            assert [c.new for c in changes] == [2e-4] and len(forks) == 1, n
        else:
            assert changes == [] and forks == [], n
        assert not (run / journal.FILE).exists(), n
        files.close()


def test_a_hostile_journal_is_set_aside_in_one_line(tmp_path):
    run = tmp_path / "run"
    RunFiles(run).close()
    (run / journal.FILE).write_text('{"kind": "branch", "id": "0123456789abcdef", "step": 1, '
                                    '"folder": "../../outside"}')
    files = RunFiles(run)
    assert len(files.warnings) == 1 and "folder" in files.warnings[0] and "set aside" in files.warnings[0]
    assert not (run / journal.FILE).exists() and list(run.glob("journal.json.refused-*"))
    assert not (tmp_path / "outside").exists()
    files.close()


def test_a_resume_after_a_killed_branch_goes_on_from_the_branch(tmp_path, tiny_mnist):
    """The resume picks its checkpoint after the folder's journal is replayed: a branch to step 4 killed before
    it moved anything resumes from step 4, not from the abandoned stretch's newest checkpoint."""
    from cgan_core.run.training_run import TrainingRun
    from cgan_core.step.config import TrainConfig

    run = TrainingRun(TrainConfig(batch_size=8, preset="mlp-label-concat"), out=tmp_path / "run", dataset=tiny_mnist)
    for _ in range(3):
        run.step(), run.step()
        run.save_checkpoint()  # steps 2, 4, 6
    run.close()
    files = RunFiles(run.run_dir)
    with pytest.MonkeyPatch.context() as m:
        kill_at(m, 2)  # the folder claimed (0) and the journal written (1), no checkpoint moved yet
        with pytest.raises(Killed):
            files.branch(4, lambda newest: RolledBack(newest, 4, "manual", 1e-4, 1e-4, True))
    files.close()
    warnings = []
    resumed = TrainingRun(TrainConfig(batch_size=8, preset="mlp-label-concat"), resume=run.run_dir, dataset=tiny_mnist,
                          warn=warnings.append)
    assert resumed.step_count == 4 and [checkpoint_step(p) for p in checkpoint_files(run.run_dir)] == [4, 2]
    assert len([e for e in read_events(run.run_dir) if isinstance(e, RolledBack)]) == 1
    resumed.close()


def test_a_link_inside_the_run_folder_is_refused_and_nothing_outside_is_written(tmp_path):
    """Issue 43: with RUN/events.jsonl (or metrics.csv) a link to a file outside, `train --resume` appended the
    run's events (or rows) to it; checkpoints/ was entered without a check. The writer now refuses each in one
    line (a CheckpointError: the CLI's one-line error), naming the file, and writes nothing through it."""
    from cgan_core.errors import CheckpointError

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target").write_text("mine\n")
    writes = {"events.jsonl": lambda f: f.log(RolledBack(3, 2, "manual", 1e-4, 1e-4, True)),
              "metrics.csv": lambda f: f.write_metrics([row(4)]),
              "checkpoints": lambda f: f.save_checkpoint({"step": 4, "hparams": {}}, 4)}
    for name, write in writes.items():
        run = tmp_path / name
        files = trained(run)
        files.close()
        if (run / name).exists():
            (run / name).rename(run / f"{name}.moved")
        (run / name).symlink_to(outside / "target" if name != "checkpoints" else outside)
        before = {p.name: p.read_bytes() for p in outside.iterdir()}
        with pytest.raises(CheckpointError) as refused:
            write(RunFiles(run))  # a resume's first writes (RunFiles lists checkpoints/ when it opens)
        said = str(refused.value)
        assert "\n" not in said and "symbolic link" in said and name in said, said
        assert {p.name: p.read_bytes() for p in outside.iterdir()} == before, name
