"""`cgan-studio compare` (issue 46): runs side by side by what they draw, through the run folder's reader, on
run folders written as a run writes them (no training: each grid says which run and step drew it)."""
from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from cgan_core.compare import images
from cgan_core.errors import CganError
from cgan_core.output.checkpoint import save_generator
from cgan_core.run.folder_writer import RunFiles
from cgan_core.run.timelapse import save_grid_image
from cgan_core.step.nets_mlp import Seed001Generator

NAMES = [str(i) for i in range(10)]


def written_run(folder, shade: int, steps=(10, 20, 30), seconds_a_step: float = 1.0, seed: int = 0):
    """Rows every step, a grid every 10 steps (its pixels say the run's shade and the step), a generator."""
    files = RunFiles(folder)
    files.write_config({"preset": "mlp-label-product"})
    files.write_metrics([{"step": s, "d1": 0.5, "d2": 0.5, "g": 1.0, "seconds": s * seconds_a_step}
                         for s in range(1, max(steps) + 1)])
    for step in steps:
        save_grid_image(folder, step, np.full((12, 12, 1), shade + step, np.uint8))
    import torch

    torch.manual_seed(seed)
    save_generator(folder / "generator.safetensors", Seed001Generator(4, 10, (1, 28, 28)), NAMES)
    files.close()
    return folder


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    fast = written_run(root / "fast", 100, steps=(10, 20, 30), seconds_a_step=1.0, seed=1)
    slow = written_run(root / "slow", 50, steps=(10, 20), seconds_a_step=3.0, seed=2)
    return root, fast, slow


def fingerprint(*folders) -> dict:
    return {str(p): hashlib.sha1(p.read_bytes()).hexdigest() for f in folders for p in sorted(f.rglob("*"))
            if p.is_file() and p.name != "writer.lock"}


def test_grids_at_a_matching_step_or_time_and_through_training(two_runs, tmp_path, cli_here):
    root, fast, slow = two_runs
    before = fingerprint(fast, slow)
    records = [images.read_record(fast), images.read_record(slow)]
    assert images.common_step(records) == 20  # the last step both reached a grid at: where it opens
    assert [c.caption.split(",")[0] for c in images.recorded_columns(records)] == ["step 20", "step 20"]
    assert [c.caption.split(",")[0] for c in images.recorded_columns(records, step=25)] == ["step 20", "step 20"]
    # After 30 s of training the fast run had reached step 30, the slow one step 10.
    at_30s = images.recorded_columns(records, seconds=30)
    assert [int(c.image[0, 0, 0]) for c in at_30s] == [130, 60]
    rc, out, err = cli_here("compare", fast, slow, "--out", tmp_path / "c.png")
    assert rc == 0, err
    with Image.open(tmp_path / "c.png") as picture:
        assert picture.width > 2 * 2 * 12
    rc, out, err = cli_here("compare", root, "--gif", "--out", tmp_path / "c.gif")  # a folder of runs, whole
    assert rc == 0, err
    assert json.loads(out)["runs"] == [str(fast), str(slow)]
    with Image.open(tmp_path / "c.gif") as gif:
        assert gif.n_frames == json.loads(out)["frames"] >= 2
    assert fingerprint(fast, slow) == before  # nothing written into the runs compared


def test_same_noise_draws_only_the_models_difference(two_runs, tmp_path):
    root, fast, slow = two_runs
    copy = tmp_path / "copy"
    shutil.copytree(fast, copy)
    same = images.same_noise_columns([fast, copy])
    assert np.array_equal(same[0].image, same[1].image)  # one generator twice: the same pictures
    other = images.same_noise_columns([fast, slow])
    assert not np.array_equal(other[0].image, other[1].image)
    wide = tmp_path / "wide"  # another latent size: no z fits both
    shutil.copytree(slow, wide)
    save_generator(wide / "generator.safetensors", Seed001Generator(6, 10, (1, 28, 28)), NAMES)
    with pytest.raises(CganError, match="cannot share a noise: fast \\(latent 4.*wide \\(latent 6"):
        images.same_noise_columns([fast, wide])


@pytest.mark.parametrize("args,code,message", [
    (["ONE"], 2, "compare 2 to 6"),
    (["ONE", "TWO", "--best"], 2, "--best"),
    (["ONE", "TWO", "--gif"], 2, "must end in .gif"),
    (["ONE", "NOWHERE"], 2, "no such run folder"),
    (["ONE", "BARE"], 1, "no sample grids"),
])
def test_bad_input_is_one_line(two_runs, tmp_path, cli_here, args, code, message):
    root, fast, slow = two_runs
    bare = tmp_path / "bare"
    RunFiles(bare).write_config({"preset": "studio-fast"})
    where = {"ONE": fast, "TWO": slow, "NOWHERE": tmp_path / "nowhere", "BARE": bare}
    rc, _, err = cli_here("compare", *[where.get(a, a) for a in args], "--out", tmp_path / "c.png")
    assert rc == code and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
