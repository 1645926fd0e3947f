"""Save and load the JSON files a run leaves in its folder (UTF-8, non-ASCII kept as is)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def save_json(path: Path, data: Any, *, compact: bool = False) -> None:
    """Write `data` to `path`; `compact` leaves out the spaces after `,` and `:`."""
    separators = (",", ":") if compact else None
    path.write_text(json.dumps(data, ensure_ascii=False, separators=separators), "utf-8")


def load_json(path: Path, missing: str) -> Any:
    """The JSON in `path`; FileNotFoundError `<path> not found: <missing>` if there is none."""
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: {missing}")
    return json.loads(path.read_text("utf-8"))
