"""Where a resume starts: the newest healthy checkpoint of a run folder (or the one named), the saved
configuration with the caller's fixed settings on top, and the folder the run goes on writing."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .config import LIVE_FIELDS, TrainConfig
from .distributed import World
from .run_files import latest_checkpoint

LENGTH_FIELDS = ("steps", "epochs", "max_seconds")


def resumed_config(saved: dict, overrides: dict) -> TrainConfig:
    """The saved configuration, with the caller's fixed settings on top. A length given with the resume
    replaces the saved length as a whole (a resume with --max-seconds 60 is not held to the old --steps)."""
    fixed = {k: v for k, v in overrides.items() if k not in LIVE_FIELDS}
    if any(k in fixed for k in LENGTH_FIELDS):
        fixed.update({k: fixed.get(k) for k in LENGTH_FIELDS})
    return TrainConfig.from_dict({**saved, **fixed})


def resume_point(resume: Path, out: Path | None, overrides: dict, world: World | None,
                 warn: Callable[[str], None]) -> tuple[TrainConfig, Path, dict]:
    """(configuration, run folder, checkpoint state) to go on from."""
    path, state = latest_checkpoint(resume, warn)  # the newest healthy checkpoint
    config = resumed_config(state["config"], overrides)
    folder = Path(out) if out else (path.parent.parent if Path(resume).is_file() else Path(resume))
    saved, now = int(state.get("world_size", 1)), world.size if world is not None else 1
    if saved != now:
        batch = state["config"].get("batch_size")
        warn(f"this run was trained on {saved} process(es) and resumes on {now}: the global batch changes "
             f"from {saved} x {batch} to {now} x {batch} images")
    return config, folder, state
