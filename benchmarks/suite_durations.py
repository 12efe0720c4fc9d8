"""The test suite's time, as BENCHMARKS.md keeps it: `make test`'s pytest command with `--durations=0`, then
a table of seconds by file (set-up, call and tear-down summed over both workers) and pytest's own wall time.

    .venv/bin/python -m benchmarks.suite_durations [--from LOG]

Run it alone: the suite takes both cores. --from reads a log of that command instead of running it."""
from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys

COMMAND = [sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "worksteal", "--durations=0", "tests"]
LINE = re.compile(r"^([0-9.]+)s (call|setup|teardown)\s+(\S+?)::")
CLOSING = re.compile(r"^=*\s*(.*\b(\d+) passed.*) in ([0-9.]+)s")


def table(log: str, rows: int = 15) -> str:
    by_file = collections.Counter()
    for line in log.splitlines():
        if match := LINE.match(line):
            by_file[match.group(3)] += float(match.group(1))
    closing = next((m for m in map(CLOSING.match, reversed(log.splitlines())) if m), None)
    total = sum(by_file.values())
    out = [f"pytest: {closing.group(1)} in **{float(closing.group(3)):.0f} s**" if closing else "pytest: no closing line",
           f"(test time summed over the two workers: {total:.0f} s)", "", "| file | seconds |", "|---|---|"]
    out += [f"| {name} | {seconds:.1f} |" for name, seconds in by_file.most_common(rows)]
    rest = total - sum(s for _, s in by_file.most_common(rows))
    out.append(f"| the other {max(0, len(by_file) - rows)} files | {rest:.1f} |")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--from", dest="log", help="a log of the suite run with --durations=0")
    args = parser.parse_args()
    if args.log:
        with open(args.log) as f:
            log = f.read()
    else:
        done = subprocess.run(COMMAND, capture_output=True, text=True, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
        log = done.stdout + done.stderr
    print(table(log))
    return 0


if __name__ == "__main__":
    sys.exit(main())
