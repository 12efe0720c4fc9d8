"""The documents name only options the command line has (issue 45): docs/cli.md is what the parsers print, and
every `--option` in README.md and docs/ is one of theirs (or one of torchrun's or pip's, named as such)."""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs"))

from make_cli_reference import option_strings, reference  # noqa: E402

# Options of other programs that the documents show beside ours.
OTHERS = {"--standalone", "--nproc-per-node", "--nnodes", "--rdzv-backend", "--rdzv-endpoint", "--rdzv-id",  # torchrun
          "--find-links", "--constraint", "--index-url", "--extra-index-url", "--logdir", "--dist", "--durations",  # pip, pytest
          "--gil", "--threads", "--screen"}  # py-spy, Xvfb


def test_the_cli_reference_is_what_the_parsers_print():
    assert (ROOT / "docs" / "cli.md").read_text() == reference(), "run: .venv/bin/python docs/make_cli_reference.py"


def benchmark_options() -> set[str]:
    """The options the benchmarks and scripts declare (`bench_faults --only journal`)."""
    scripts = [*(ROOT / "benchmarks").glob("*.py"), *(ROOT / "docs").glob("*.py")]
    return {o for path in scripts for o in re.findall(r'add_argument\(\s*"(--[a-z0-9-]+)"', path.read_text())}


def test_every_option_a_document_names_exists():
    known = option_strings() | benchmark_options() | OTHERS
    named = {}
    for path in [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]:
        # A whole option only: one that argparse's help wrapped at its dash ("--max-" then "seconds") is passed over.
        for option in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9](?![\w-])", path.read_text()):
            named.setdefault(option, path.name)
    unknown = {o: where for o, where in named.items() if o not in known}
    assert not unknown, f"options no parser has: {unknown}"


def test_every_file_a_document_links_to_exists():
    missing = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
            if not target.startswith(("http://", "https://")) and not (path.parent / target).exists():
                missing.append(f"{path.name}: {target}")
    assert not missing, missing
