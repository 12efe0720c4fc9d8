"""Shared test set-up: one cache for the whole run, private run folders, offscreen Qt, one torch thread.

Two xdist workers share the two cores: each runs one torch thread, and so does every child process it
starts (OMP_NUM_THREADS and CGAN_STUDIO_TORCH_THREADS are inherited). Two threads a process only queued
behind one another."""
from __future__ import annotations

import faulthandler
import importlib.util
import os
import tempfile

faulthandler.enable()
# One cache folder for both workers of a run (the classifier trained once, MNIST's checksums checked once);
# PYTEST_XDIST_TESTRUNUID is the same in every worker of one run and new in the next run.
_RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"solo-{os.getpid()}"
_SHARED = os.path.join(tempfile.gettempdir(), f"cgan-tests-{_RUN_ID}")
os.makedirs(_SHARED, exist_ok=True)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["CGAN_STUDIO_CACHE"] = os.path.join(_SHARED, "cache")
os.environ["CGAN_STUDIO_RUNS"] = tempfile.mkdtemp(prefix="runs-", dir=_SHARED)
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["CGAN_STUDIO_TORCH_THREADS"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

# The test extra, every part of it: a missing one fails the run here, in one line, instead of a silent skip.
_TEST_EXTRA = ("optuna", "tensorboard", "onnxruntime", "pytestqt", "xdist", "pytest_timeout")


def pytest_configure(config):
    if os.environ.get("CGAN_GPU_CHECK") == "1":  # benchmarks/gpu_check.sh, on the GPU machine's own Python
        return
    missing = [name for name in _TEST_EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        raise pytest.UsageError(f"the test extra is not installed ({', '.join(missing)}): run `make venv` "
                                "(or pip install -e '.[test]')")


# Seconds each file's tests take together on the 2-core host (benchmarks/suite_durations.py; measure again when
# a file's cost changes). A file not named here counts a second a test.
FILE_SECONDS = {"test_sweep.py": 79, "test_distributed_cli.py": 59, "test_guard.py": 40, "test_cli_features.py": 36,
                "test_faults.py": 30, "test_live_fork.py": 25, "test_quality_view.py": 24, "test_explore.py": 23,
                "test_branch_cli.py": 21, "test_fastcpu.py": 20, "test_window.py": 19, "test_fail_paths.py": 19,
                "test_autotune.py": 19, "test_control.py": 19, "test_distributed.py": 17, "test_metrics.py": 16,
                "test_fuzz_records.py": 10, "test_orphans.py": 10, "test_journal.py": 10}


def pytest_collection_modifyitems(config, items):
    """Order the run for `-n 2 --dist worksteal`, which gives each worker one half of the collection (by count)
    and lets an idle worker steal the far end of the other's queue. The heavy files are shared out so the
    halves weigh the same, and each half starts with its heaviest: what is left to steal at the end is
    short, and neither worker waits alone on a long test."""
    by_file: dict[str, list] = {}
    for item in items:
        by_file.setdefault(item.path.name, []).append(item)
    weight = {name: FILE_SECONDS.get(name, len(tests)) for name, tests in by_file.items()}
    halves: tuple[list, list] = ([], [])
    loads = [0.0, 0.0]
    for name in sorted(by_file, key=lambda n: (-weight[n], n)):  # the heaviest first, each to the lighter half
        side = 0 if loads[0] <= loads[1] else 1
        halves[side].extend(by_file[name])
        loads[side] += weight[name]
    # xdist splits by count: move the lightest tests from the longer half's end to the other's end.
    while len(halves[0]) - len(halves[1]) > 1:
        halves[1].append(halves[0].pop())
    while len(halves[1]) - len(halves[0]) > 1:
        halves[0].append(halves[1].pop())
    items[:] = halves[0] + halves[1]


@pytest.fixture(scope="session")
def tiny_mnist():
    """512 real MNIST test images: enough for a few steps of any preset."""
    from cgan_core.data import ImageDataset, load_mnist

    full = load_mnist("test")
    return ImageDataset("mnist", full.images[:512].clone(), full.labels[:512].clone(), list(full.class_names))


@pytest.fixture(scope="session")
def small_mnist_folder():
    """An IDX folder of 3,000 real MNIST training and 500 test images, shared by both workers: `--dataset` for
    CLI runs that measure quality (its domain classifier trains in seconds, once a test run, then is cached)."""
    import fcntl
    from pathlib import Path

    from cgan_core.data import load_mnist
    from cgan_core.data.idx import write_idx

    folder = Path(_SHARED) / "small-mnist"
    with open(Path(_SHARED) / "small-mnist.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "t10k-labels-idx1-ubyte.gz").is_file():  # the last file written: the folder is whole
            folder.mkdir(exist_ok=True)
            for split, prefix, n in (("train", "train", 3000), ("test", "t10k", 500)):
                data = load_mnist(split)
                for kind, array in (("images-idx3", data.images[:n, 0].numpy()), ("labels-idx1", data.labels[:n].numpy())):
                    write_idx(folder / f"{prefix}-{kind}-ubyte.gz", array, compress=True)
    return folder


@pytest.fixture
def cli_here(capsys):
    """The CLI's main() in this process, where torch is imported already: (exit code, stdout, stderr). An
    exception that main() lets through (a traceback a user would see) fails the test. One test per entry
    point runs it as a real process (exit codes, signals); these prove each command and refusal without a
    start-up each."""
    from cgan_core.cli.main import main

    def run(*args) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = main([str(a) for a in args])
        captured = capsys.readouterr()
        return rc, captured.out, captured.err
    return run


def _quiet_main(argv: list[str]) -> None:
    """`cgan-studio ARGV` in a child process, its output discarded."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    from cgan_core.cli.main import main

    os._exit(main(argv))


@pytest.fixture(scope="session")
def forked_cli():
    """Start `cgan-studio ARGV` as a real process for a test to kill -9, forked from a server that imported torch,
    optuna and the engine once (a fresh interpreter spends 4-5 s of CPU on imports alone). The entry point as a
    shell starts it is tested by real subprocesses (test_cli.py, test_control.py, test_sweep.py). Returns a
    started multiprocessing.Process."""
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "torch._dynamo", "optuna", "cgan_core.cli.main",
                                    "cgan_core.run.training_run", "cgan_core.compare.optuna_sweep"])

    def start(*argv):
        process = context.Process(target=_quiet_main, args=([str(a) for a in argv],), daemon=True)
        process.start()
        return process
    return start


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """A test (or a command it runs in this process) that changes the thread count leaves it as it found it."""
    yield
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
