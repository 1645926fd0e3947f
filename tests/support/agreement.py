"""The simulator's manifest against the real parser: each file parsed as it says, replayed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from inventory.csv_format import ParseResult, Row
from inventory.stock import alert_due
from simulator.manifest import LOADED, REJECTED, ExpectedAlert, FileEntry


def assert_parsed_as_the_manifest_says(entry: FileEntry, result: ParseResult) -> None:
    """The parse of one file is accepted or rejected, row by row, as its manifest entry says."""
    expect = entry.expect
    got = {
        "status": LOADED if result.accepted else REJECTED,
        "rows_written": len(result.rows),
        "rows_rejected": len(result.errors),
        "rejected_lines": [error.line for error in result.errors],
        "duplicates": len(result.duplicates),
    }
    want = {
        "status": expect.status,
        "rows_written": expect.rows_written,
        "rows_rejected": expect.rows_rejected,
        "rejected_lines": expect.rejected_lines,
        "duplicates": expect.duplicates,
    }
    assert got == want, (entry.key, entry.modes, result.file_error, result.errors)
    if expect.status == REJECTED:
        assert expect.reason_contains
        assert expect.reason_contains in (result.file_error or ""), entry.key


@dataclass
class Replay:
    """A model table the parsed rows of each file are loaded into, with the alerts they cause."""

    table: dict[tuple[str, str], int] = field(default_factory=dict)
    alerts: list[ExpectedAlert] = field(default_factory=list)

    def load(self, key: str, rows: Iterable[Row]) -> None:
        """Load the rows of the file `key`, noting a NoStock alert wherever one is due."""
        for row in rows:
            previous = self.table.get(row.key)
            if alert_due(previous, row.count):
                self.alerts.append(ExpectedAlert(row.store, row.item, previous, key))
            self.table[row.key] = row.count

    @property
    def final_state(self) -> list[tuple[str, str, int]]:
        """The table as the manifest writes its final state: sorted (store, item, count)."""
        return sorted((s, i, c) for (s, i), c in self.table.items())
