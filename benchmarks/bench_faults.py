"""Fault campaign: real runs of the default preset (studio-fast on MNIST, default settings but a checkpoint every
20 steps, so kills land during checkpoint writes) under kill -9, a full disk, a second writer, hostile control
files, hostile generator and checkpoint files (loaded under a memory limit) and links in place of run files.

    .venv/bin/python -m benchmarks.bench_faults --kills 50 --out /tmp/faults

For every fault it checks: the run resumes and finishes, metrics.csv's steps strictly increase (no row twice,
none cut), the newest checkpoint and the generator load, no file outside the run folder changed (a sentinel
folder, the cache, the runs' parent folder), no process printed a traceback. Prints a markdown table and
writes faults.json in --out. The full-disk stage mounts a small tmpfs (root only; skipped otherwise).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.fault_files import HOSTILE_CONTROL, generated_control_files, hostile_model_files
from benchmarks.link_faults import links
from cgan_core.errors import CganError
from cgan_core.output import checkpoint as ckpt
from cgan_core.run import layout
from cgan_core.run.folder_writer import checkpoint_files, checkpoint_step, latest_checkpoint

CONFIG = "checkpoint_every = 20\n"  # everything else as the preset and the CLI set it
OWN_RUNS = ("warm-up", "killed", "shared", "generated", "journal-", "links-")  # the campaign's own run folders (by prefix)
MEMORY_LIMIT = 6 * 1024**3  # address space of a loader under test: a memory bomb fails, the machine stays up


class Campaign:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.outside = out / "outside"  # the processes' working folder, with files nobody may touch
        self.runs = out / "runs"
        self.cache = out / "cache"
        for folder in (self.outside, self.runs, self.cache):
            folder.mkdir(parents=True, exist_ok=True)
        (self.outside / "notes.txt").write_text("the user's own file\n")
        (self.outside / "secret.json").write_text('{"command": "stop"}')
        self.config = out / "campaign.toml"
        self.config.write_text(CONFIG)
        self.env = {**os.environ, "CGAN_STUDIO_CACHE": str(self.cache), "CGAN_STUDIO_RUNS": str(self.runs)}
        self.rows: list[dict] = []
        self.tracebacks = 0

    # ---- processes ---------------------------------------------------------------------------------
    def cli(self, *args) -> list[str]:
        return [sys.executable, "-m", "cgan_core", *map(str, args)]

    def start(self, *args, limit: int | None = None) -> subprocess.Popen:
        def preexec():
            os.setsid()
            if limit:
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        # Output into a file, not a pipe: a run that prints a line per refused control file would fill a
        # pipe nobody reads until it ends, and block.
        log = tempfile.TemporaryFile("w+")
        proc = subprocess.Popen(self.cli(*args), cwd=self.outside, env=self.env, stdout=subprocess.DEVNULL,
                                stderr=log, text=True, preexec_fn=preexec)
        proc.log = log
        return proc

    def finish(self, proc: subprocess.Popen, timeout: float = 900) -> tuple[int, str]:
        proc.wait(timeout=timeout)
        proc.log.seek(0)
        err = proc.log.read()
        proc.log.close()
        if "Traceback" in err:
            self.tracebacks += 1
            print(err[-2000:], file=sys.stderr)
        return proc.returncode, err

    def run_cli(self, *args, limit: int | None = None, timeout: float = 900) -> tuple[int, str]:
        return self.finish(self.start(*args, limit=limit), timeout)

    def train(self, run: Path, steps: int, resume: bool) -> subprocess.Popen:
        where = ["--resume", run] if resume else ["--out", run]
        return self.start("train", *where, "--steps", steps, "--config", self.config)

    # ---- what must hold ----------------------------------------------------------------------------
    def fingerprint(self) -> dict[str, str]:
        """Every file outside the run folders: the sentinel folder, the cache, the runs' parent's own files."""
        seen = {}
        for root in (self.outside, self.cache):
            for path in sorted(root.rglob("*")):
                if path.is_symlink():
                    seen[str(path)] = "link:" + os.readlink(path)
                elif path.is_file():
                    seen[str(path)] = hashlib.sha1(path.read_bytes()).hexdigest()
        seen["runs/"] = ",".join(sorted(p.name for p in self.runs.iterdir() if not p.name.startswith(OWN_RUNS)))
        return seen

    def verdict(self, run: Path) -> dict:
        """The run folder after its last process ended: rows, checkpoint and generator."""
        steps, cut = metrics_steps(run / layout.METRICS)
        duplicated = len(steps) - len(set(steps))
        increasing = all(b > a for a, b in zip(steps, steps[1:]))
        try:
            path, state = latest_checkpoint(run)
            checkpoint_ok = ckpt.TMP_MARK not in path.name
        except CganError:
            checkpoint_ok, state = False, {"step": -1}
        try:
            ckpt.load_generator(run / layout.GENERATOR)
            generator_ok = True
        except (CganError, OSError):
            generator_ok = False
        return {"final_step": int(state["step"]), "rows": len(steps), "rows_duplicated": duplicated,
                "rows_cut": cut, "steps_increase": increasing, "checkpoint_loads": checkpoint_ok,
                "generator_loads": generator_ok}

    def record(self, fault: str, count: int, run: Path | None, finished: bool, outside_before: dict, **extra) -> None:
        verdict = self.verdict(run) if run is not None else {}
        changed = [k for k in set(outside_before) | set(self.fingerprint())
                   if outside_before.get(k) != self.fingerprint().get(k)]
        row = {"fault": fault, "count": count, "finished": finished, "outside_changed": len(changed),
               **verdict, **extra}
        if changed:
            print("changed outside the run folder:", changed, file=sys.stderr)
        self.rows.append(row)
        print(json.dumps(row), flush=True)


def metrics_steps(path: Path) -> tuple[list[int], int]:
    """The step column of every row, and how many rows are cut short (fewer fields than the header)."""
    if not path.is_file():
        return [], 0
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    complete = [line.split(",") for line in lines[1:] if line.count(",") == len(header) - 1]
    return [int(row[0]) for row in complete], len(lines) - 1 - len(complete)


def learning_rates(run: Path) -> list[str]:
    """The distinct (lr_g, lr_d) pairs in metrics.csv: one, when no hostile command changed them."""
    lines = (run / layout.METRICS).read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    g, d = header.index("lr_g"), header.index("lr_d")
    return sorted({f"{row[g]}/{row[d]}" for row in (line.split(",") for line in lines[1:]) if len(row) == len(header)})


def writing(run: Path) -> bool:
    """A checkpoint's temp file is there: a write is under way (or was, when its writer was killed)."""
    folder = run / layout.CHECKPOINTS
    return folder.is_dir() and any(ckpt.TMP_MARK in p.name for p in folder.iterdir())


def wait_for(condition, timeout: float, proc: subprocess.Popen | None = None, poll: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            proc.log.seek(0)
            raise RuntimeError(f"the run ended early (rc {proc.returncode}): {proc.log.read()[-500:]}")
        if time.monotonic() > deadline:
            raise TimeoutError("gave up waiting")
        time.sleep(poll)


def newest_step(run: Path) -> int:
    files = checkpoint_files(run)
    return checkpoint_step(files[0]) if files else -1


def kills(c: Campaign, count: int, target: int, seed: int) -> None:
    """kill -9 at random moments (start-up, training, checkpoint writes), each followed by a resume."""
    rng, run, before = random.Random(seed), c.runs / "killed", c.fingerprint()
    during_writes = 0
    for i in range(count):
        proc = c.train(run, target, resume=i > 0)
        if i % 4 == 3:  # in the middle of a checkpoint write: as soon as its temp file appears
            wait_for(lambda: writing(run), 300, proc, poll=0.001)
        elif i == 0 or rng.random() < 0.8:  # most kills once training is under way, some during a resume's start
            known = newest_step(run)
            wait_for(lambda known=known: newest_step(run) > known, 300, proc)
            time.sleep(rng.uniform(0.0, 4.0))
        os.killpg(proc.pid, signal.SIGKILL)
        c.finish(proc)
        during_writes += writing(run)
    rc, err = c.run_cli("train", "--resume", run, "--steps", target, "--config", c.config)
    c.record("kill -9 (then --resume)", count, run, rc == 0, before, during_checkpoint_writes=during_writes)


def full_disk(c: Campaign, target: int) -> None:
    """A run on a small tmpfs that fills up: one line and exit 1; after space is freed, --resume finishes."""
    mount = c.out / "small-disk"
    mount.mkdir(exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128m", "tmpfs", str(mount)]).returncode != 0:
        print("full disk: cannot mount a tmpfs (not root?); skipped", file=sys.stderr)
        return
    before = c.fingerprint()
    try:
        run = mount / "run"
        proc = c.train(run, 100_000, resume=False)
        wait_for(lambda: newest_step(run) >= 40, 300, proc)
        ballast = mount / "ballast"
        with open(ballast, "wb") as f:  # fill the disk but for 64 KiB: the next checkpoint cannot be written
            free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
            f.write(b"\0" * max(0, free - 65536))
        rc, err = c.finish(proc, 300)
        last = err.strip().splitlines()[-1]  # the lines before it are the run's progress
        one_line = rc == 1 and "No space left" in last and str(mount) in last
        ballast.unlink()
        resumed, resume_err = c.run_cli("train", "--resume", run, "--steps", target, "--config", c.config)
        if resumed != 0:
            print("the resume after the full disk failed:", resume_err[-1500:], file=sys.stderr)
        c.record("disk full (tmpfs)", 1, run, resumed == 0 and one_line, before, stop_message=last[-200:])
    finally:
        subprocess.run(["umount", str(mount)])


def second_writer_and_hostile_control(c: Campaign, target: int) -> None:
    """A live run; a second writer (resume, --out) is refused in one line; 20 hostile control files are
    refused into control/refused/ while the run trains on; a stop then a resume finish it."""
    run, before = c.runs / "shared", c.fingerprint()
    proc = c.train(run, 100_000, resume=False)
    wait_for(lambda: newest_step(run) >= 20, 300, proc)
    refusals = 0
    # A resume of the live run (exit 1: the folder is busy, its holder named) and a new run into it (exit 2).
    for args, code, says in ((["--resume", run], 1, "another process writes this run (pid"),
                             (["--out", run], 2, "that folder already holds a run")):
        rc, err = c.run_cli("train", *args, "--steps", 10, "--config", c.config)
        refused = rc == code and len(err.strip().splitlines()) == 1 and says in err
        refusals += refused
        if not refused:
            print("second writer:", rc, err[-500:], file=sys.stderr)
    c.record("second writer on a live run", 2, None, refusals == 2, before, refused_in_one_line=refusals)
    control = run / layout.CONTROL
    for name, make in HOSTILE_CONTROL.items():
        make(control / name, c.outside)
    step_then = newest_step(run)
    wait_for(lambda: newest_step(run) >= step_then + 40, 300, proc)  # it trained on
    refused = {p.name for p in (control / "refused").iterdir()} if (control / "refused").is_dir() else set()
    left = [p.name for p in control.iterdir() if p.name != "refused"]
    os.killpg(proc.pid, signal.SIGINT)  # a clean stop: final checkpoint
    rc_stop, _ = c.finish(proc)
    rc, _ = c.run_cli("train", "--resume", run, "--steps", max(target, newest_step(run) + 20), "--config", c.config)
    c.record("hostile control files", len(HOSTILE_CONTROL), run, rc == 0 and rc_stop == 0, before,
             refused=len(refused), left_in_control=len(left), learning_rates_seen=learning_rates(run))


def generated_control(c: Campaign, count: int, target: int, seed: int) -> None:
    """A live run receives `count` control files generated from the schemas, a few a second: each is refused
    in one line (or applied), none stops the run or raises an internal error; a stop and a resume finish it."""
    run = c.runs / "generated"
    proc = c.train(run, 100_000, resume=False)
    wait_for(lambda: newest_step(run) >= 20, 300, proc)
    before = c.fingerprint()  # with the run's own folder in the runs folder's listing
    control = run / layout.CONTROL
    for i, data in enumerate(generated_control_files(count, seed)):
        tmp = control / f".{i:05d}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, control / f"{time.time_ns():020d}-{i:05d}.json")  # whole, as `control` writes one
        if i % 20 == 19:
            time.sleep(0.25)  # a few a second: the run reads its folder every 0.25 s
            assert proc.poll() is None, f"the run ended after {i + 1} generated control files"
    wait_for(lambda: not [p for p in control.iterdir() if p.suffix == ".json"], 600, proc)
    events = [json.loads(line) for line in (run / layout.EVENTS).read_text().splitlines()]
    refused = sum(e["event"] == "control_refused" for e in events)
    applied = sum(e["event"] == "control_applied" for e in events)
    internal = sum("internal error" in json.dumps(e) for e in events)
    step_then = newest_step(run)
    wait_for(lambda: newest_step(run) >= step_then + 20, 300, proc)  # it trained on
    os.killpg(proc.pid, signal.SIGINT)
    rc_stop, err_stop = c.finish(proc)
    rc, _ = c.run_cli("train", "--resume", run, "--steps", max(target, newest_step(run) + 20), "--config", c.config)
    c.record("generated control files", count, run, rc == 0 and rc_stop == 0, before, refused=refused,
             applied=applied, internal_errors=internal + err_stop.count("internal error"))


def journal_kills(c: Campaign) -> None:
    """kill -9 at each file operation of a journaled change, in a real process (benchmarks/journal_kills.py): a
    branch (an older checkpoint resumed) and a promote (`branch --promote`), each from a copy of one run; after
    each kill a plain `--resume` must finish, lose no row, log the change at most once and keep its history
    and its state telling one story."""
    base = c.runs / "journal-base"
    c.run_cli("train", "--out", base, "--steps", 60, "--config", c.config)
    base_steps, _ = metrics_steps(base / layout.METRICS)
    oldest = checkpoint_files(base)[-1].name  # resumed with newer ones beside it: a branch
    before = c.fingerprint()
    for change in ("branch", "promote"):
        n, broken, runs = 0, [], []
        while True:
            run = c.runs / f"journal-{change}-{n:02d}"
            shutil.copytree(base, run)
            act = (["train", "--resume", run / layout.CHECKPOINTS / oldest, "--steps", 80, "--config", c.config]
                   if change == "branch" else ["branch", run, "--vary", "lr_d=1x,2x", "--steps", 10,
                                                "--promote", "lr_d 2x", "--processes", 1])
            proc = subprocess.Popen([sys.executable, "-m", "benchmarks.journal_kills", str(n), *map(str, act)],
                                    cwd=c.outside, env={**c.env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            _, err = proc.communicate(timeout=900)
            c.tracebacks += "Traceback" in err
            if proc.returncode not in (0, -signal.SIGKILL):
                broken.append(f"the {change} itself exited {proc.returncode}: {err.strip()[-300:]}")
            rc, _ = c.run_cli("train", "--resume", run, "--steps", 120, "--config", c.config)
            problem = _journal_problem(run, base_steps, rc, change)
            if problem:
                broken.append(f"kill at {n}: {problem}")
            runs.append(run)
            if proc.returncode != -signal.SIGKILL:  # the change ended before the n-th operation: all tried
                break
            n += 1
        print("\n".join(broken), file=sys.stderr)
        c.record(f"kill -9 at each step of a {change}", n, runs[-1], not broken, before, broken=len(broken))


def _journal_problem(run: Path, base_steps: list[int], rc: int, change: str) -> str:
    from cgan_core.run.events import Forked, RolledBack
    from cgan_core.run.folder_reader import changes_in_force, read_events

    steps, cut = metrics_steps(run / layout.METRICS)
    events = read_events(run)
    if rc != 0:
        return f"the resume exited {rc}"
    if cut or steps[:len(base_steps)] != base_steps:
        return "rows of the first stretch were lost or cut"
    if change == "branch":
        rollbacks = [e for e in events if isinstance(e, RolledBack)]
        aside = sorted(p.parent.parent.name for p in (run / layout.ABANDONED).glob("*/checkpoints/step-*.pt"))
        if len(rollbacks) > 1 or len(set(aside)) > 1 or (rollbacks and len(aside) != 2):
            return f"{len(rollbacks)} rollbacks logged, abandoned checkpoints in {sorted(set(aside))}"
        return ""
    forks = [e for e in events if isinstance(e, Forked)]
    in_force = [c.new for c in changes_in_force(events) if c.name == "lr_d"]
    _, state = latest_checkpoint(run)
    told = in_force[-1] if in_force else None
    trained = state["hparams"]["lr_d"]
    if len(forks) > 1 or (told is not None and abs(told - trained) > 1e-12) or (told is None and forks):
        return f"{len(forks)} forks logged; the history says lr_d {told}, the state trains with {trained}"
    return ""


def hostile_models(c: Campaign) -> None:
    """Hostile generator and checkpoint files, each loaded by the CLI under a memory limit: one line, exit 1,
    nothing executed, nothing allocated past the limit."""
    folder = c.out / "hostile-files"
    folder.mkdir(exist_ok=True)
    marker = c.out / "hostile-files" / "EXECUTED"
    before = c.fingerprint()
    clean = 0
    files = hostile_model_files(folder, marker)
    for path, args in files:
        rc, err = c.run_cli(*args, path, limit=MEMORY_LIMIT, timeout=300)
        lines = err.strip().splitlines()
        ok = rc in (1, 2) and len(lines) == 1 and path.name in err and not marker.exists()
        clean += ok
        if not ok:
            print(f"{path.name}: rc {rc}: {err[-400:]}", file=sys.stderr)
    c.record("hostile generator/checkpoint files", len(files), None, clean == len(files), before,
             refused_in_one_line=clean)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--target", type=int, default=4000, help="the step every faulted run finishes at")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--generated", type=int, default=1000, help="control files generated from the schemas")
    parser.add_argument("--only", nargs="*", choices=["kills", "disk", "writers", "files", "generated", "journal", "links"],
                        help="some stages only")
    args = parser.parse_args(argv)
    c = Campaign(args.out.resolve())
    start = time.monotonic()
    c.run_cli("train", "--out", c.runs / "warm-up", "--steps", 20, "--config", c.config)  # the cache, once
    stages = {"kills": lambda: kills(c, args.kills, args.target, args.seed), "disk": lambda: full_disk(c, 200),
              "writers": lambda: second_writer_and_hostile_control(c, 200), "files": lambda: hostile_models(c),
              "generated": lambda: generated_control(c, args.generated, 200, args.seed),
              "journal": lambda: journal_kills(c), "links": lambda: links(c)}
    for name in args.only or list(stages):
        stages[name]()
    summary = {"rows": c.rows, "tracebacks": c.tracebacks, "minutes": round((time.monotonic() - start) / 60, 1)}
    (args.out / "faults.json").write_text(json.dumps(summary, indent=1))
    print("\n| fault | count | finished | outside changed | rows duplicated | rows cut | steps increase | "
          "checkpoint loads | generator loads |\n|---|---|---|---|---|---|---|---|---|")
    for r in c.rows:
        print(f"| {r['fault']} | {r['count']} | {r['finished']} | {r['outside_changed']} | "
              f"{r.get('rows_duplicated', '-')} | {r.get('rows_cut', '-')} | {r.get('steps_increase', '-')} | "
              f"{r.get('checkpoint_loads', '-')} | {r.get('generator_loads', '-')} |")
    print(f"tracebacks: {c.tracebacks}; {summary['minutes']} minutes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
