"""Writes docs/cli.md, the command line's reference, from the parsers themselves (each subcommand's --help).

    .venv/bin/python docs/make_cli_reference.py

tests/core/test_cli_reference.py fails when docs/cli.md is not what this script writes now, so a flag added
to a parser is in the reference, and when a document names an option that no parser has.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cgan_core.cli.main import build_parser  # noqa: E402

HEADER = """# The command line

Every subcommand of `cgan-studio` (also `python -m cgan_core`, which torchrun runs), as its `--help` prints
it. Written by `docs/make_cli_reference.py` from the parsers themselves; a test fails when this page and
the parsers differ. Examples of each are in the [README](../README.md#command-line).

A bad flag or value exits 2 with one line naming it, a bad file exits 1 with one line naming it, Ctrl-C
exits 130 after a clean stop; `cgan-studio --debug SUBCOMMAND ...` shows a traceback instead.
"""


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def reference() -> str:
    # argparse wraps at the terminal's width: the same page on any terminal. Restored after, since the test
    # imports this into a pytest worker.
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "110"
    try:
        parser = build_parser()
        parts = [HEADER, "## cgan-studio\n", "```", parser.format_help().rstrip(), "```\n"]
        for name, sub in subcommands(parser).items():
            parts += [f"## {name}\n", "```", sub.format_help().rstrip(), "```\n"]
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before
    return "\n".join(parts)


def option_strings() -> set[str]:
    """Every option any parser takes (--steps, --lr-d, ...)."""
    parser = build_parser()
    found = {o for a in parser._actions for o in a.option_strings}
    for sub in subcommands(parser).values():
        found |= {o for a in sub._actions for o in a.option_strings}
    return found


if __name__ == "__main__":
    (ROOT / "docs" / "cli.md").write_text(reference())
    print(ROOT / "docs" / "cli.md")
