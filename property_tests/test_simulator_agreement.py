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
from property_tests.budget import examples
from simulator.generate import MODES, MessyRates, generate
from tests.support.agreement import Replay, assert_parsed_as_the_manifest_says

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

        replay = Replay()
        for entry in manifest.files:
            # When the real parser reads each file
            result = parse_inventory((out / entry.key).read_bytes())

            # Then it is accepted or rejected, row by row, as the manifest says
            assert_parsed_as_the_manifest_says(entry, result)
            replay.load(entry.key, result.rows)

        # And loading the parsed rows in order gives the manifest's table and alerts
        assert replay.final_state == manifest.final_state
        assert replay.alerts == manifest.alerts
