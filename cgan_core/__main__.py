"""`python -m cgan_core SUBCOMMAND`: the headless engine, e.g. under torchrun."""
import sys

from cgan_core.cli.main import main

sys.exit(main())
