"""Records a run folder holds that the run did not write as it should (issue 43): events.jsonl lines of any
shape are skipped, never raised on, and a grid PNG that would decode to gigabytes is passed over."""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from cgan_core.output import timelapse
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
