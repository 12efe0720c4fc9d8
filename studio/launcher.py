"""The `cgan-studio` command: with no arguments it opens the desktop app; with a subcommand it hands
over to the engine's headless CLI (cgan_core.cli.main), which never imports Qt."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        from .app import main as studio_main

        return studio_main([])
    from cgan_core.cli.main import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
