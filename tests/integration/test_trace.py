"""`inventory trace` on the deployed stack: one upload followed by its correlation id.

The upload's id (its S3 request id) is on the receipt, the items, the loader's and Check-Stock's
log lines in CloudWatch Logs, and the NoStock message; the trace shows the steps in order.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from harness import cli, env, trace
from harness.journey import MINISTACK_DELIVERY, Journey
from tests.support.waiting import eventually

from .conftest import Pipeline

pytestmark = pytest.mark.integration

# The loader stamps the receipt, puts it, then logs its end: "receipt written" comes first.
LOADER_STEPS = ("uploaded", "loader started", "receipt written", "loader finished")
# The rows reach the stream before the receipt is written, so Check-Stock's steps may come
# before the loader's last ones.
ALERT_STEPS = ("uploaded", "loader started", "Check-Stock got the change", "NoStock published")
STEPS = (*LOADER_STEPS, *ALERT_STEPS[2:])


def test_the_trace_follows_an_upload_to_its_alert_by_its_correlation_id(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a file with a zero, uploaded and loaded, its alert received
    store = pipeline.unique("trace")
    key = f"trace/{pipeline.run_id}/{store}.csv"
    body = f"store,item,count\n{store},apples,0\n{store},pears,3\n".encode()
    receipt = pipeline.upload_and_wait(key, body)
    [alert] = pipeline.alerts_for_store(store, expected=1)

    # Then the upload's id is on its receipt, its items and its NoStock message
    cid = receipt.correlation_id
    assert cid and cid != receipt.receipt_id  # the S3 request id, not the sequencer
    assert {item["CorrelationId"] for item in pipeline.items(store)} == {cid}
    assert alert.body["correlation_id"] == cid
    assert alert.body["source_key"] == key

    # And the functions' lines reach CloudWatch Logs (written when each invocation ends)
    trail = trace.AwsTrail(pipeline.outputs, on_emulator=env.on_emulator())
    [upload] = trace.uploads_of(trail, key, every=False)

    def journey() -> Journey:
        return trace.journey_of(trail, upload, datetime.now(UTC))

    found = eventually(journey, lambda j: "NoStock published" in [s.what for s in j.steps])
    for chain in (LOADER_STEPS, ALERT_STEPS):
        assert [s.what for s in found.steps if s.what in chain] == list(chain)
    assert [s.at for s in found.steps if s.at] == sorted(s.at for s in found.steps if s.at)

    # When the trace command runs
    code = cli.main(["trace", key])

    # Then it shows each step in order, with the upload's correlation id
    shown = capsys.readouterr().out
    assert code == 0
    assert cid in shown
    for chain in (LOADER_STEPS, ALERT_STEPS):
        positions = [shown.index(step) for step in chain]
        assert positions == sorted(positions)
    assert all(step in shown for step in STEPS)
    assert "apples" in shown
    if env.on_emulator():
        assert "not recorded here (MiniStack" in shown
        assert MINISTACK_DELIVERY.startswith("delivery: not recorded here")


def test_since_lists_a_rejected_file(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a file rejected for its header
    key = f"trace/{pipeline.run_id}/{pipeline.unique('rejected')}.csv"
    receipt = pipeline.upload_and_wait(key, b"shop,thing,amount\na,b,1\n")
    assert receipt.status == "rejected"

    # When the last 10 minutes' slow or failed files are listed
    code = cli.main(["trace", "--since", "10m"])

    # Then it is there, with the reason
    shown = capsys.readouterr().out
    assert code == 0
    assert key in shown
    row = next(line for line in shown.splitlines() if key in line)
    assert "rejected: " in row and "header must be store,item,count" in row


def test_an_unknown_key_is_a_one_line_error(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    key = f"trace/{pipeline.run_id}/never-uploaded.csv"

    assert cli.main(["trace", key]) == 1
    assert f"no upload of {key} in {pipeline.outputs.bucket_name}" in capsys.readouterr().out
