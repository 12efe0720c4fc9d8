"""bench_faults' "links" stage: each file and folder of a run replaced by a symbolic link to a copy outside it,
then every command that reads a run given that run (a resume, a TensorBoard export, a sample, a branch).

Each command must end with exit 0 or with one error line naming the link (never a traceback), change nothing
outside the run folder, and show nothing of the copy: the copy's metrics.csv carries a row of step 999 and its
config.json another preset, which a reader that followed the link would pass on. With the link taken away
and the file put back, a plain resume then finishes.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from cgan_core.run import layout
from cgan_core.run.folder_writer import checkpoint_files

LINKED = (layout.METRICS, layout.EVENTS, layout.CONFIG, layout.QUALITY, layout.GENERATOR, layout.GRIDS,
          f"{layout.GRIDS}/{{grid}}", layout.CHECKPOINTS, f"{layout.CHECKPOINTS}/{{checkpoint}}")
MARK = 999  # the copy's own step: seen anywhere, the link was read through


def _decoy(source: Path, target: Path) -> None:
    """A copy of the run's file or folder, outside it, with the copy's own marks."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target)
        return
    shutil.copy2(source, target)
    if target.name == layout.METRICS:
        with open(target, "a") as f:
            f.write(f"{MARK}" + ",0" * 13 + "\n")
    elif target.name == layout.CONFIG:
        target.write_text(target.read_text().replace('"studio-fast"', '"decoy"'))


def _commands(c, run: Path, out: Path) -> list[list]:
    return [["train", "--resume", run, "--steps", 60, "--config", c.config],
            ["export-tensorboard", run, "--out", out / "board"],
            ["sample", run, "--out", out / "sample.png"],
            ["branch", run, "--vary", "lr_d=1x,2x", "--steps", 5, "--out", out / "branched"]]


def links(c) -> None:
    base, config = c.runs / "links-base", c.out / "links.toml"
    config.write_text("checkpoint_every = 20\nsample_every = 20\n")  # two checkpoints and grids in 40 steps
    c.run_cli("train", "--out", base, "--steps", 40, "--config", config, "--quality-every", 20)
    tried = clean = shown = 0
    newest = {"grid": max(p.name for p in (base / layout.GRIDS).iterdir()),
              "checkpoint": checkpoint_files(base)[0].name}  # the file a resume and the history read
    for i, name in enumerate(n.format(**newest) for n in LINKED):
        clean_here = 0
        run, decoys = c.runs / f"links-{i}", c.outside / f"decoy-{i}"
        shutil.copytree(base, run)
        _decoy(run / name, decoys / name)
        if (run / name).is_dir():
            shutil.rmtree(run / name)
        else:
            (run / name).unlink()
        (run / name).symlink_to(decoys / name)
        before = c.fingerprint()
        for argv in _commands(c, run, c.out / f"links-out-{i}"):
            rc, err = c.run_cli(*argv)
            tried += 1
            said = [line for line in err.strip().splitlines() if line.startswith("cgan-studio: error:")]
            ok = rc == 0 or (rc in (1, 2) and len(said) == 1 and "link" in said[0] and "Traceback" not in err)
            clean, clean_here = clean + ok, clean_here + ok
            if not ok:
                print(f"{name}: {argv[0]}: rc {rc}: {err[-400:]}")
        board = c.out / f"links-out-{i}" / "board"
        shown += any(str(MARK) in p.read_bytes().decode("latin-1") for p in board.rglob("*") if p.is_file())
        (run / name).unlink()  # the link taken away and the run's own file put back: a plain resume finishes
        if (base / name).is_dir():
            shutil.copytree(base / name, run / name)
        else:
            shutil.copy2(base / name, run / name)
        rc, _ = c.run_cli("train", "--resume", run, "--steps", 80, "--config", c.config)
        c.record(f"link in place of {name}", len(_commands(c, run, c.out)), run, rc == 0, before,
                 one_line_or_exit_0=clean_here, read_through=shown)
    print(f"links: {clean} of {tried} commands ended in exit 0 or one line; {shown} showed the copy's content")
