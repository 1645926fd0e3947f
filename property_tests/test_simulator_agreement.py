"""The simulator's manifest agrees with the real parser, for any seed, rates and size.

The manifest is computed from what the generator wrote, never by the parser, so the two are
independent: every file must be accepted or rejected, row by row, as the manifest says, and
replaying the parsed rows must give its final table and its NoStock alerts.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inventory.csv_format import parse_inventory
from inventory.stock import alert_due
from property_tests.budget import examples
from simulator.generate import MODES, MessyRates, generate
from simulator.manifest import LOADED, REJECTED, ExpectedAlert

pytestmark = pytest.mark.property

rates = st.one_of(st.sampled_from([0.0, 0.0, 0.5, 1.0]), st.floats(0, 1))
messy_rates = st.fixed_dictionaries({mode: rates for mode in MODES}).map(lambda r: MessyRates(**r))


@st.composite
def runs(draw: st.DrawFn) -> dict:
    """Arguments of a small `generate` run."""
    files = draw(st.integers(1, 8))
    return {
        "files": files,
        "rows": draw(st.integers(1, 6)),
        "seed": draw(st.integers(0, 2**32)),
        "days": draw(st.none() | st.integers(1, files)),
        "stockout_rate": draw(rates),
        "restock_rate": draw(rates),
        "messy": draw(messy_rates),
    }


@settings(max_examples=examples(0.25), suppress_health_check=[HealthCheck.too_slow])
@given(run=runs())
def test_every_file_is_parsed_exactly_as_the_manifest_says(run: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # Given a generated run
        out = Path(tmp) / "run"
        manifest = generate(out, **run)

        table: dict[tuple[str, str], int] = {}
        alerts: list[ExpectedAlert] = []
        for entry in manifest.files:
            # When the real parser reads each file
            result = parse_inventory((out / entry.key).read_bytes())

            # Then it is accepted or rejected, row by row, as the manifest says
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
                assert expect.reason_contains in (result.file_error or "")
            for row in result.rows:
                previous = table.get(row.key)
                if alert_due(previous, row.count):
                    alerts.append(ExpectedAlert(row.store, row.item, previous, entry.key))
                table[row.key] = row.count

        # And loading the parsed rows in order gives the manifest's table and alerts
        assert sorted((s, i, c) for (s, i), c in table.items()) == manifest.final_state
        assert alerts == manifest.alerts
