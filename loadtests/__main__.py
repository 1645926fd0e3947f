"""`python -m loadtests run ...` is `inventory load ...`."""

import sys

from harness.cli import main

args = sys.argv[1:]
sys.exit(main(["load", *(args[1:] if args[:1] == ["run"] else args)]))
