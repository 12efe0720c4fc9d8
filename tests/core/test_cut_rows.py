"""What a kill or a full disk leaves half written never survives into a resumed run or a reader."""
from __future__ import annotations

import csv
import os

import numpy as np

from cgan_core.compare.summary import curves
from cgan_core.output.quality import QualityReport
from cgan_core.run.folder_reader import RunTail, load_history
from cgan_core.run.loop import train
from cgan_core.run.quality_file import append_report, load_reports
from cgan_core.run.training_run import TrainingRun
from cgan_core.step.config import TrainConfig


def steps_of(path) -> list[int]:
    with open(path, newline="") as f:
        return [int(r["step"]) for r in csv.DictReader(f)]


def test_a_cut_metrics_row_is_dropped_on_resume_and_skipped_by_readers(tmp_path, tiny_mnist):
    config = TrainConfig(preset="mlp-label-concat", batch_size=8, steps=40, stats_every=5, sample_every=1000,
                         checkpoint_every=40)
    run = TrainingRun(config, out=tmp_path / "r", dataset=tiny_mnist)
    train(run)
    run.close()
    metrics = tmp_path / "r" / "metrics.csv"
    with open(metrics, "a") as f:
        f.write("12")  # a kill mid-write: no newline, one field
    assert len(load_history(tmp_path / "r").steps) == 40  # the reader skips it, refuses nothing
    assert len(curves(tmp_path / "r").steps) == 40
    resumed = TrainingRun(config, resume=tmp_path / "r", overrides={"steps": 80}, dataset=tiny_mnist)
    train(resumed)
    resumed.close()
    assert steps_of(metrics) == list(range(1, 81))  # not 1..40, 1241, 42..80


def test_attach_follows_a_run_that_was_resumed(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text("{}")
    header = "step,epoch,d1,d2,g,lr_g,lr_d,d_real,d_fake,grad_d,grad_g,seconds\n"
    row = "{0},0.1,0.6,0.6,0.9,0.0002,0.0002,0.6,0.4,1.0,1.0,{0}\n"
    (run / "metrics.csv").write_text(header + "".join(row.format(s) for s in range(1, 31)))
    tail = RunTail(run)
    [first] = [c for c in tail.poll() if hasattr(c, "steps")]
    assert first.steps[-1] == 30
    replaced = run / "metrics.tmp"  # a resume from step 20: the file replaced, then rows appended
    replaced.write_text(header + "".join(row.format(s) for s in range(1, 21)) + row.format(21))
    os.replace(replaced, run / "metrics.csv")
    [again] = [c for c in tail.poll() if hasattr(c, "steps")]
    assert list(again.steps) == list(range(1, 22))  # read from its start again, not stuck past its end


def test_class_names_with_commas_newlines_and_odd_bytes_keep_quality_csv_readable(tmp_path):
    names = ["cats, big", "line\nbreak", "caf\udce9", "plain"]  # \udce9: a folder name that was not UTF-8
    report = QualityReport(10, 0.5, (0.1, 0.2, 0.3, 0.4), 12.0, 3.0, 0.9, 0.5)
    append_report(tmp_path, report, names)
    append_report(tmp_path, report, names)
    with open(tmp_path / "quality.csv", newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    named = ["cats, big", "line\nbreak", "caf\ufffd", "plain"]
    assert header[9:] == [f"acc_{n}" for n in named] + [f"ifd_{n}" for n in named]
    assert all(len(r) == len(header) for r in rows)
    assert [r.per_class for r in load_reports(tmp_path)] == [(0.1, 0.2, 0.3, 0.4)] * 2
    assert np.isclose(load_reports(tmp_path)[0].frechet, 12.0)


def test_class_names_with_a_form_feed_or_a_quoted_newline_keep_their_header(tmp_path):
    """Issue 43: str.splitlines split quality.csv's header inside a quoted class name (a form feed, a newline),
    judged the header cut, and emptied the file on the next resume or promote."""
    import csv

    from cgan_core.output.checkpoint import truncate_csv_after

    path = tmp_path / "quality.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["step", "accuracy", "acc_a\fb", "acc_c\nd", "acc_e\u2028f"])
        for step in range(1, 6):
            writer.writerow([step, 0.5, 0.1, 0.2, 0.3])
    before = path.read_text()
    truncate_csv_after(path, 3)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["step", "accuracy", "acc_a\fb", "acc_c\nd", "acc_e\u2028f"]
    assert [r[0] for r in rows[1:]] == ["1", "2", "3"]
    assert path.read_text() == "".join(before.split("\n4,")[0]) + "\n"
