"""`inventory openapi`: print the query API's OpenAPI document (`> docs/openapi.json`)."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options: the document goes to standard output."""
    parser.epilog = "inventory openapi > docs/openapi.json   # rewrite the committed document"


def command(args: argparse.Namespace) -> int:
    """Print the document the query API's code generates."""
    from query_api.document import openapi_text  # pydantic and powertools: only when run

    sys.stdout.write(openapi_text())
    return 0
