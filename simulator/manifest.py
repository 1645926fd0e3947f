"""The manifest written beside generated files: what the pipeline should do with each of them.

It is computed from what the generator wrote (never by running the parser), so a test can
hold the real parser to it, and `verify` can hold the deployed pipeline to it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from simulator.jsonfile import load_json, save_json

MANIFEST_NAME = "manifest.json"
LOADED = "loaded"
REJECTED = "rejected"


@dataclass
class FileExpectation:
    """What Load-Inventory's receipt for one file should say."""

    status: str  # LOADED or REJECTED
    rows_written: int
    rows_rejected: int
    rejected_lines: list[int] = field(default_factory=list)  # 1-based, ascending
    duplicates: int = 0
    reason_contains: str | None = None  # for REJECTED: a phrase of the receipt's reason


@dataclass
class FileEntry:
    """One generated file. `key` is both the S3 key and the path below the run's folder."""

    key: str
    store: str
    day: int  # 0-based simulated day
    modes: list[str]  # messy modes applied to this file, e.g. ["bom_crlf", "bad_rows"]
    expect: FileExpectation


@dataclass
class ExpectedAlert:
    """One NoStock message the run should cause (previous_count None: new item at 0)."""

    store: str
    item: str
    previous_count: int | None
    source_key: str


@dataclass
class Manifest:
    """Everything a run should produce, in upload order."""

    seed: int
    params: dict[str, Any]
    files: list[FileEntry]  # per store, in snapshot order; stores interleaved by day
    final_state: list[tuple[str, str, int]]  # (store, item, count) after every file loaded
    alerts: list[ExpectedAlert]  # in the order they become due

    def save(self, out_dir: Path) -> Path:
        path = out_dir / MANIFEST_NAME
        save_json(path, asdict(self), compact=True)
        return path

    @classmethod
    def load(cls, out_dir: Path) -> Manifest:
        data = load_json(
            out_dir / MANIFEST_NAME,
            f"is {out_dir} a folder made by `python -m simulator generate`?",
        )
        return cls(
            seed=data["seed"],
            params=data["params"],
            files=[
                FileEntry(
                    key=f["key"],
                    store=f["store"],
                    day=f["day"],
                    modes=f["modes"],
                    expect=FileExpectation(**f["expect"]),
                )
                for f in data["files"]
            ],
            final_state=[(s, i, c) for s, i, c in data["final_state"]],
            alerts=[ExpectedAlert(**a) for a in data["alerts"]],
        )

    @property
    def stores(self) -> list[str]:
        return sorted({f.store for f in self.files})
