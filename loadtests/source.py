"""Files for a load run: a simulator run, handed out store by store in snapshot order."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from harness.observe import Expected
from inventory.csv_format import parse_inventory
from simulator.generate import generate
from simulator.manifest import LOADED, FileEntry, FileExpectation, Manifest
from simulator.world import CATALOG_SIZE


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
        """Generate `files` snapshots with the simulator (clean files: latency, not validation).

        Above the simulator's catalog (CATALOG_SIZE items a store), `large_snapshots` writes
        them instead, in the same layout.
        """
        if rows > CATALOG_SIZE:
            manifest = large_snapshots(run_dir, files=files, rows=rows, seed=seed)
        else:
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


STOCKOUT_RATE = 0.03  # the simulator's defaults: an item runs out with this chance a day
RESTOCK_RATE = 0.5  # and an item at 0 comes back with this one
MAX_COUNT = 40


def large_snapshots(run_dir: Path, *, files: int, rows: int, seed: int) -> Manifest:
    """Daily snapshots of stores with `rows` items each, for sizes the simulator cannot make.

    The simulator's layout (up to 7 days, as many stores as that needs, stores interleaved
    by day) and its stock-out and restock rates; ASCII names of about the simulator's row
    width (65 bytes). Only `files` and the stores are in the manifest (no expected alerts:
    the load runner replays the files itself).
    """
    days = min(7, files)
    stores = math.ceil(files / days)
    rng = random.Random(f"{seed}:large")
    names = [f"Scale Store {seed % 10**6:06d}-{s:02d}" for s in range(stores)]
    counts: list[list[int] | None] = [None] * stores
    entries: list[FileEntry] = []
    for day in range(days):
        for s, store in enumerate(names):
            if len(entries) == files:
                break
            counts[s] = _next_counts(rng, counts[s], rows)
            key = f"stores/large-{s:02d}/day-{day}/inventory-{len(entries):05d}.csv"
            lines = "".join(
                f'{store},"Synthetic Item {n:07d}, pack of 6",{c}\n'
                for n, c in enumerate(counts[s] or [])
            )
            path = run_dir / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("store,item,count\n" + lines, encoding="utf-8")
            expect = FileExpectation(status=LOADED, rows_written=rows, rows_rejected=0)
            entries.append(FileEntry(key=key, store=store, day=day, modes=[], expect=expect))
    params = {"files": files, "rows": rows, "stores": stores, "days": days, "large": True}
    return Manifest(seed=seed, params=params, files=entries, final_state=[], alerts=[])


def _next_counts(rng: random.Random, previous: list[int] | None, rows: int) -> list[int]:
    """A store's next snapshot: items run out and come back at the simulator's rates."""
    if previous is None:
        return [
            0 if rng.random() < STOCKOUT_RATE else rng.randint(1, MAX_COUNT) for _ in range(rows)
        ]
    return [
        (rng.randint(1, MAX_COUNT) if rng.random() < RESTOCK_RATE else 0)
        if count == 0
        else (0 if rng.random() < STOCKOUT_RATE else rng.randint(1, MAX_COUNT))
        for count in previous
    ]
