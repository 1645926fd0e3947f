"""What `upload` leaves beside a run for `verify`: the alert queue, the table before, timings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from simulator.jsonfile import load_json, save_json

STATE_NAME = "upload-state.json"


@dataclass
class Upload:
    """One file as uploaded: how long the PUT took and when its receipt became visible."""

    key: str
    put_ms: float
    ingest_ms: float | None  # None: no receipt within the deadline
    status: str | None


@dataclass
class UploadState:
    """Written by `upload`, read by `verify`."""

    endpoint: str
    queue_url: str
    subscription_arn: str
    before: list[tuple[str, str, int]]  # the run's stores in the table before the upload
    uploads: list[Upload] = field(default_factory=list)
    elapsed_s: float = 0.0

    def save(self, run_dir: Path) -> None:
        save_json(run_dir / STATE_NAME, asdict(self))

    @classmethod
    def load(cls, run_dir: Path) -> UploadState:
        data = load_json(run_dir / STATE_NAME, f"run `python -m simulator upload {run_dir}` first")
        data["before"] = [tuple(row) for row in data["before"]]
        data["uploads"] = [Upload(**u) for u in data["uploads"]]
        return cls(**data)
