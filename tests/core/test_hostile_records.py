"""Records a run folder holds that the run did not write as it should (issue 43): events.jsonl lines of any
shape are skipped, never raised on, and a grid PNG that would decode to gigabytes is passed over."""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from cgan_core.run import timelapse
from cgan_core.run.events import CheckpointSaved, from_line


@pytest.mark.parametrize("line", [
    '{"event": []}', '{"event": {}}', '{"event": 3}', '{"event": null}', "[1, 2]", '"checkpoint"', "null",
    "[" * 100_000, '{"a": ' * 50_000, '{"event": "checkpoint", "step": 1, "path": "x", "time": 0, "extra": [[[]]]}x',
])
def test_a_line_of_any_shape_is_skipped(line):
    assert from_line(line) is None


def test_a_well_formed_line_still_reads():
    assert from_line('{"event": "checkpoint", "step": 3, "path": "p", "time": 1.5}') == CheckpointSaved(3, "p", 1.5)


def _png_claiming(width: int, height: int) -> bytes:
    """A valid 1x1 greyscale PNG whose header claims `width` x `height`."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")


def test_a_grid_that_would_decode_to_gigabytes_is_passed_over(tmp_path):
    timelapse.save_grid_image(tmp_path, 10, np.zeros((8, 8, 1), np.uint8))
    timelapse.grid_path(tmp_path, 20).write_bytes(_png_claiming(40_000, 40_000))  # 1.6 G pixels
    step, image = timelapse.newest_grid(tmp_path)
    assert step == 10 and image.shape == (8, 8, 1)  # the readable one before it
    assert [s for s, _ in timelapse.load_timelapse(tmp_path)] == [10]



def _real_run(folder):
    """A run folder as a run writes it: two rows, an event, a checkpoint, a grid, a quality row, a generator."""
    from cgan_core.output.checkpoint import save_generator
    from cgan_core.output.quality import QualityReport
    from cgan_core.run.folder_writer import RunFiles
    from cgan_core.step.nets_mlp import Seed001Generator

    files = RunFiles(folder)
    files.write_config({"preset": "studio-fast", "lr_g": 4e-4})
    files.write_metrics([{"step": 1, "d1": 0.5, "d2": 0.5, "g": 1.0}, {"step": 2, "d1": 0.4, "d2": 0.6, "g": 1.1}])
    files.log(CheckpointSaved(2, "checkpoints/step-000000002.pt", 0.0))
    files.save_checkpoint({"step": 2}, 2)
    timelapse.save_grid_image(folder, 2, np.zeros((8, 8, 1), np.uint8))
    files.append_quality(QualityReport(2, 0.5, (0.5,) * 10, 3.0, 1.0, 1.0, 0.1), [str(i) for i in range(10)])
    save_generator(folder / "generator.safetensors", Seed001Generator(4, 10, (1, 28, 28)), [str(i) for i in range(10)])
    files.close()


LINKED = ["metrics.csv", "events.jsonl", "config.json", "quality.csv", "generator.safetensors", "grids",
          "grids/step-000000002.png", "checkpoints", "checkpoints/step-000000002.pt"]


@pytest.mark.parametrize("name", LINKED)
def test_a_link_inside_a_run_folder_is_never_read_through(tmp_path, name):
    """Issue 43: the readers (the history, the Runs view, Attach, a resume) followed links inside a run folder:
    with `metrics.csv -> elsewhere`, elsewhere's rows were shown. Each run file is now opened from the run
    folder without following a link: refused in one line, or read as absent; never the outside file's content."""
    import shutil

    from cgan_core.compare.summary import summarise
    from cgan_core.errors import CganError
    from cgan_core.run.folder_reader import RunTail, last_step, load_history, read_config, read_events
    from cgan_core.run.folder_writer import latest_checkpoint
    from cgan_core.run.quality_file import load_reports

    run, outside = tmp_path / "run", tmp_path / "outside"
    for folder in (run, outside):
        _real_run(folder)
    with open(outside / "metrics.csv", "a") as f:  # what must never show through the link: step 999
        f.write("999,0,7,7,7,0,0,0,0,0,0,0,0,0\n")
    (outside / "config.json").write_text('{"preset": "outside"}')
    with open(outside / "quality.csv", "a") as f:
        f.write("999" + ",0.9" * 5 + ",nan" * 3 + ",0.9" * 20 + "\n")
    timelapse.save_grid_image(outside, 999, np.zeros((8, 8, 1), np.uint8))
    if (run / name).is_dir():
        shutil.rmtree(run / name)
    else:
        (run / name).unlink()
    (run / name).symlink_to(outside / name)

    def refused_or(read, absent):
        try:
            return read()
        except CganError as exc:
            assert "\n" not in str(exc) and "link" in str(exc), exc
            return absent

    history = refused_or(lambda: load_history(run), None)
    assert history is None or (999 not in history.steps.tolist() and history.config.get("preset") != "outside")
    assert last_step(run) in (0, 2) and read_config(run).get("preset") != "outside"
    assert all(e.step == 2 for e in refused_or(lambda: read_events(run), []))
    assert 999 in [r.step for r in load_reports(outside)]  # the outside files read as they are
    assert 999 not in [r.step for r in refused_or(lambda: load_reports(run), [])]
    summary = summarise(run)  # the Runs view lists it, with the reason where a file was refused
    assert summary.steps in (0, 2) and summary.status.startswith("unreadable: ") == (name in ("events.jsonl", "quality.csv"))
    if name != "config.json":  # a folder without its config.json is not a run to follow
        seen = [i for i in RunTail(run).poll() if getattr(i, "steps", None) is not None]
        assert not any(999 in chunk.steps.tolist() for chunk in seen)
    checkpoint = refused_or(lambda: latest_checkpoint(run)[0], None)
    assert checkpoint is None or not name.startswith("checkpoints")
    assert (refused_or(lambda: timelapse.newest_grid(run), None) or (2,))[0] == 2
