"""Files for a load run: a simulator run, handed out store by store in snapshot order."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.observe import Expected
from inventory.csv_format import parse_inventory
from simulator.generate import generate
from simulator.manifest import FileEntry, Manifest


@dataclass
class PlannedFile:
    """One file to upload, with what it should cause given the store's earlier snapshots."""

    key: str  # the S3 key: the run's prefix + the simulator's key
    store: str
    body: bytes
    rows: int  # valid rows the loader should write
    expected_alerts: int
    previous_key: str | None  # the same store's previous file, which must be ingested first


@dataclass
class FileSource:
    """Hands out the files in manifest order (day by day), tracking each store's counts."""

    run_dir: Path
    prefix: str
    manifest: Manifest
    _next: int = 0
    _expected: Expected = field(default_factory=Expected)
    _last_key: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, run_dir: Path, prefix: str, files: int, rows: int, seed: int) -> FileSource:
        """Generate `files` snapshots with the simulator (clean files: latency, not validation)."""
        manifest = generate(run_dir, files=files, rows=rows, seed=seed)
        return cls(run_dir=run_dir, prefix=prefix, manifest=manifest)

    def start_from(self, before: dict[tuple[str, str], int]) -> None:
        """Counts the table already holds for the run's stores (their first alerts depend on it)."""
        self._expected.table.update(before)

    @property
    def remaining(self) -> int:
        return len(self.manifest.files) - self._next

    def next(self) -> PlannedFile | None:
        """The next file, or None when the run has used them all."""
        if self._next >= len(self.manifest.files):
            return None
        entry: FileEntry = self.manifest.files[self._next]
        self._next += 1
        body = (self.run_dir / entry.key).read_bytes()
        parsed = parse_inventory(body)
        key = f"{self.prefix}/{entry.key}"
        alerts = len(self._expected.apply(key, parsed.rows))
        planned = PlannedFile(
            key=key,
            store=entry.store,
            body=body,
            rows=len(parsed.rows),
            expected_alerts=alerts,
            previous_key=self._last_key.get(entry.store),
        )
        self._last_key[entry.store] = key
        return planned
