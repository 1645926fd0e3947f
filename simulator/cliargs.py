"""Argparse pieces the benchmark command lines share."""

from __future__ import annotations

import argparse


def add_int_options(parser: argparse.ArgumentParser, **defaults: int) -> None:
    """One option per keyword: `files=10_000` adds `--files N` (an int, default 10,000)."""
    for name, default in defaults.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=default)
