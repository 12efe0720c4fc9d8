"""A run folder's names, spelled here once. folder_writer.py writes the folder (it alone), folder_reader.py
reads it; quality_file.py and timelapse.py are their parts for quality.csv and grids/, control.py for the
control folder, journal.py and run_lock.py for the writer's own two files. Nothing else names a run's file:
the studio, the CLI, compare/ and the benchmarks ask the reader.

    config.json            the run's configuration (step.config.written_settings reads it)
    metrics.csv            one row of stats per step (records.MetricsRow), truncated past the checkpoint on resume
    quality.csv            live quality measurements, a row each (quality_file.py)
    events.jsonl           changes, rollbacks, advice, checkpoints, ... one JSON line each (events.RECORDED)
    checkpoints/step-*.pt  resumable checkpoints of healthy states, the newest few kept
    checkpoints/diverged-step-*.pt  the last state of a run the guard gave up on, kept for inspection
    generator.safetensors  the newest healthy generator; best.safetensors: the best measured so far
    grids/step-*.png       the fixed-noise grid over time (timelapse.py)
    control/               commands from other processes (control.py); control/refused/ what was refused
    variants/step-N/       a fork's variants, each a run folder
    abandoned/after-step-N/  the checkpoints and grids of a stretch a branch left
    journal.json           a change of several steps under way (journal.py)
    writer.lock            the one writer's lock (run_lock.py)
    tensorboard/           TensorBoard event files, when asked for (tensorboard_log.py)
"""
from __future__ import annotations

CONFIG = "config.json"
METRICS = "metrics.csv"
QUALITY = "quality.csv"
EVENTS = "events.jsonl"
CHECKPOINTS = "checkpoints"
GENERATOR = "generator.safetensors"
BEST = "best.safetensors"
GRIDS = "grids"
CONTROL = "control"
VARIANTS = "variants"
ABANDONED = "abandoned"
JOURNAL = "journal.json"
LOCK = "writer.lock"
TENSORBOARD = "tensorboard"
