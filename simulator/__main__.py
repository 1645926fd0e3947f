"""`python -m simulator ...` is `inventory simulate ...`."""

import sys

from harness.cli import main

sys.exit(main(["simulate", *sys.argv[1:]]))
