"""`python -m cgan_core SUBCOMMAND`: the headless engine, e.g. under torchrun."""
import sys

from .cli import main

sys.exit(main())
