"""Restarts: the emulator's kept state, its graceful stop, and what is in flight around it.

No network: the AWS clients are fakes, and the processes stopped are this test's own. The
MiniStack shapes below (lambda.json, stream records, the AlertsSent key) were recorded from
MiniStack 1.5.33 running this project's stack on 2026-11-25.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from check_stock.sending import AlertSender, idempotency_config
from harness import emulator, env, redrive
from harness.cli import build_parser, main
from infra.outputs import StackOutputs
from inventory.stock import NoStockAlert
from tests.support.events import FakeLambdaContext
from tests.support.fakes import InMemoryPersistence, fake_outputs

pytestmark = pytest.mark.unit

PORT = 4599
OUTPUTS = fake_outputs(
    load_inventory_failures_queue_url="http://127.0.0.1:4599/000000000000/LoadFailures",
    check_stock_failures_queue_url="http://127.0.0.1:4599/000000000000/CheckFailures",
)
STREAM_ARN = (
    "arn:aws:dynamodb:us-east-1:000000000000:table/Inventory/stream/2026-11-25T14:14:27.629"
)


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`.emulator/` in a temporary folder."""
    monkeypatch.setattr(env, "STATE_DIR", tmp_path)
    return tmp_path


# --- the switch and the emulator's environment ---------------------------------------------------


@pytest.mark.parametrize("value", ["0", "false", "No", " off "])
def test_persist_state_0_turns_it_off(value: str) -> None:
    assert not emulator.persisting({"PERSIST_STATE": value})


@pytest.mark.parametrize("environ", [{}, {"PERSIST_STATE": "1"}, {"PERSIST_STATE": "true"}])
def test_state_is_kept_by_default(environ: dict[str, str]) -> None:
    assert emulator.persisting(environ)


def _environment(monkeypatch: pytest.MonkeyPatch, persist: bool) -> dict[str, str]:
    monkeypatch.setenv("STATE_DIR", "/tmp/elsewhere")
    monkeypatch.setenv("LOCALSTACK_PERSISTENCE", "1")
    mode = env.Mode(port=PORT, scheme="http", auth=False)
    return emulator._emulator_environment(mode, None, persist=persist)


def test_a_kept_emulator_saves_services_and_s3_in_its_port_folder(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environ = _environment(monkeypatch, persist=True)

    assert environ["PERSIST_STATE"] == environ["S3_PERSIST"] == "1"
    assert environ["STATE_DIR"] == str(state / "4599" / "state")
    assert environ["S3_DATA_DIR"] == str(state / "4599" / "state" / "s3")


def test_without_persistence_nothing_is_saved_and_nothing_is_shared(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environ = _environment(monkeypatch, persist=False)

    assert environ["PERSIST_STATE"] == environ["S3_PERSIST"] == "0"
    assert "LOCALSTACK_PERSISTENCE" not in environ  # it would turn S3_PERSIST back on
    # Still per port (MiniStack's defaults under /tmp are shared by every emulator), and not
    # where the kept state is.
    kept = str(emulator.saved_state_dir(PORT))
    for name in ("STATE_DIR", "S3_DATA_DIR"):
        assert environ[name].startswith(str(state / "4599"))
        assert not environ[name].startswith(kept)


def test_the_record_says_whether_the_running_emulator_keeps_its_state(state: Path) -> None:
    assert emulator.keeps_state(PORT) is None
    (state / "4599").mkdir()
    emulator.persistence_record(PORT).write_text('{"persist": false, "state_dir": "x"}')
    assert emulator.keeps_state(PORT) is False
    emulator.persistence_record(PORT).write_text('{"persist": true, "state_dir": "x"}')
    assert emulator.keeps_state(PORT) is True


# --- the stream positions MiniStack saves -----------------------------------------------------


def _lambda_json(folder: Path, positions: dict[str, Any]) -> Path:
    """lambda.json as MiniStack 1.5.33 writes it (other sections shortened)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "lambda.json"
    payload = {
        "functions": {"__account_region_scoped__": True, "data": {}},
        "esms": {"__account_region_scoped__": True, "data": {"k": {"UUID": "4d33de14"}}},
        "kinesis_positions": {"__account_region_scoped__": True, "data": {}},
        "dynamodb_stream_positions": {"__account_region_scoped__": True, "data": positions},
    }
    path.write_text(json.dumps({"__ministack_format__": 2, "payload": payload}))
    return path


def test_saved_stream_positions_restart_at_0(tmp_path: Path) -> None:
    key = "000000000000\x00us-east-1\x00'4d33de14-6720-474c-ac01-2eed5022d087'"
    path = _lambda_json(tmp_path, {key: 4})

    assert emulator.restart_stream_positions(tmp_path) == 1

    data = json.loads(path.read_text())
    assert data["__ministack_format__"] == 2
    assert data["payload"]["dynamodb_stream_positions"]["data"] == {key: 0}
    assert data["payload"]["esms"]["data"] == {"k": {"UUID": "4d33de14"}}  # the rest as it was


def test_positions_already_at_0_leave_the_file_alone(tmp_path: Path) -> None:
    path = _lambda_json(tmp_path, {"a": 0})
    before = path.read_text()

    assert emulator.restart_stream_positions(tmp_path) == 0
    assert path.read_text() == before


@pytest.mark.parametrize("text", [None, "not json", '{"payload": []}', '{"payload": {}}'])
def test_no_or_unreadable_lambda_state_changes_nothing(tmp_path: Path, text: str | None) -> None:
    if text is not None:
        (tmp_path / "lambda.json").write_text(text)

    assert emulator.restart_stream_positions(tmp_path) == 0


def test_forget_deletes_the_kept_state_and_what_was_in_flight_only(state: Path) -> None:
    folder = state / "4599"
    (folder / "state" / "s3").mkdir(parents=True)
    (folder / "state" / "dynamodb.json").write_text("{}")
    (folder / "logs").mkdir()
    (folder / "ministack-tls").mkdir()
    emulator.unfinished_file(PORT).write_text("{}")

    removed = emulator.forget(PORT)

    assert set(removed) == {folder / "state", folder / "unfinished.json"}
    assert sorted(p.name for p in folder.iterdir()) == ["logs", "ministack-tls"]
    assert emulator.forget(PORT) == []


# --- the graceful stop ---------------------------------------------------------------------------


def _process(ignore_term: bool) -> subprocess.Popen[bytes]:
    code = "import signal, time\n"
    if ignore_term:
        code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    code += "print('ready', flush=True)\ntime.sleep(60)\n"
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True
    )
    assert process.stdout is not None
    process.stdout.readline()  # its SIGTERM handler is in place
    return process


def test_a_process_that_exits_on_sigterm_is_not_killed(capsys: pytest.CaptureFixture[str]) -> None:
    process = _process(ignore_term=False)
    started = time.monotonic()

    assert emulator._stop_group(process.pid, 10.0, saving=True, port=PORT)

    assert emulator._exited(process.pid)
    assert time.monotonic() - started < 5.0
    assert "WARNING" not in capsys.readouterr().err


def test_one_that_ignores_it_is_killed_with_a_warning_that_state_was_not_saved(
    capsys: pytest.CaptureFixture[str],
) -> None:
    process = _process(ignore_term=True)
    started = time.monotonic()

    assert emulator._stop_group(process.pid, 0.5, saving=True, port=PORT)

    assert process.wait(5) == -signal.SIGKILL
    assert time.monotonic() - started >= 0.5
    assert "state was NOT saved" in capsys.readouterr().err


def test_a_failed_save_in_the_log_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "ministack.log"
    log.write_text("2026-11-25 14:14:30 ERROR [persistence] Persistence: failed to save old\n")
    start = log.stat().st_size
    with log.open("a") as out:
        out.write("2026-11-25 14:14:39 INFO [persistence] Persistence: saved sqs state to x\n")
        out.write("2026-11-25 14:14:39 ERROR [persistence] Persistence: failed to save s3: boom\n")

    emulator._check_saved(log, start, PORT)

    err = capsys.readouterr().err
    assert "failed to save s3: boom" in err
    assert "failed to save old" not in err  # before this stop


# --- what is in flight ---------------------------------------------------------------------------


def _record(store: str, item: str, count: int, previous: int | None, seq: int) -> dict[str, Any]:
    """A stream record as GetRecords gives it (boto3: the time as a datetime)."""

    def image(n: int) -> dict[str, Any]:
        return {
            "Store": {"S": store}, "Item": {"S": item}, "Count": {"N": str(n)},
            "SourceKey": {"S": f"{store}.csv"}, "Version": {"S": f"v{seq}|{item}"},
        }  # fmt: skip

    change: dict[str, Any] = {
        "ApproximateCreationDateTime": datetime(2026, 11, 25, 14, 14, tzinfo=UTC),
        "Keys": {"Store": {"S": store}, "Item": {"S": item}},
        "NewImage": image(count),
        "SequenceNumber": f"{1795616000000 + seq:020d}{seq:010d}",
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if previous is not None:
        change["OldImage"] = image(previous)
    return {
        "eventID": f"e{seq}",
        "eventName": "MODIFY" if previous is not None else "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": change,
    }


def test_the_alerts_sent_key_is_the_one_check_stock_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Computed here as powertools computes it inside the deployed function."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "Checker")
    persistence = InMemoryPersistence()
    sender = AlertSender(_Published(), persistence, idempotency_config(3600))
    context: Any = FakeLambdaContext()  # the attributes powertools reads
    sender.register(context)
    alert = NoStockAlert("S1", "figs", None, "one.csv", "2026-11-25T14:25:29.791+00:00")

    assert sender.send(alert, "v1|figs")

    assert set(persistence.records) == {emulator.alert_key_function("Checker")(alert, "v1|figs")}


def test_the_alerts_sent_key_matches_one_recorded_from_the_emulator() -> None:
    function = "InventoryStack-AlertsCheckStockFunctionA40E0640-9C6071EB8FF66"
    change = "2026-11-25T14:26:25.870000Z|00000000000000000006611A98307114|0000000002"
    alert = NoStockAlert("S3", "plums", None, "r/poison.csv")

    assert emulator.alert_key_function(function)(alert, change) == (
        f"{function}.check_stock.sending.AlertSender._publish#c893c183f9fcc4ccae36bd65c6238151"
    )


class _Published:
    def publish(self, alert: NoStockAlert) -> str:
        return "message-id"


class FakeAws:
    """The calls the in-flight check makes, answered from lists and dicts."""

    def __init__(self) -> None:
        self.objects: list[dict[str, Any]] = []
        self.receipts: dict[str, list[dict[str, Any]]] = {}
        self.dead_letters: list[str] = []  # keys in LoadInventoryFailures
        self.pages: list[list[dict[str, Any]]] = []  # the stream, page by page
        self.sent: dict[str, str] = {}  # AlertsSent: key -> status
        self.last_result = "OK - 1 records"
        self.alerts_table: str | None = "AlertsSent"
        self.invoked: list[tuple[str, dict[str, Any]]] = []
        self.answers: dict[str, Any] = {}  # function -> answer (an Exception is raised)

    def client(self, service: str) -> FakeAws:
        return self

    # s3
    def get_paginator(self, name: str) -> FakeAws:
        return self

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        return [{"Contents": self.objects}]

    # dynamodb
    def query(self, **kwargs: Any) -> dict[str, Any]:
        key = kwargs["ExpressionAttributeValues"][":k"]["S"]
        return {"Items": self.receipts.get(key, [])}

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        [(table, wanted)] = RequestItems.items()
        found = [
            {"id": k["id"], "status": {"S": self.sent[k["id"]["S"]]}}
            for k in wanted["Keys"]
            if k["id"]["S"] in self.sent
        ]
        return {"Responses": {table: found}, "UnprocessedKeys": {}}

    # sqs
    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        bodies = [
            {"requestPayload": {"Records": [{"s3": {"object": {"key": key}}}]}}
            for key in self.dead_letters
        ]
        self.dead_letters = []  # given once, as a queue would within the receives
        return {"Messages": [{"Body": json.dumps(b)} for b in bodies]}

    # lambda
    def list_event_source_mappings(self, **kwargs: Any) -> dict[str, Any]:
        return {"EventSourceMappings": [{"UUID": "4d33de14", "EventSourceArn": STREAM_ARN}]}

    def get_event_source_mapping(self, UUID: str) -> dict[str, Any]:
        return {"UUID": UUID, "LastProcessingResult": self.last_result}

    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:
        variables = {"ALERTS_SENT_TABLE_NAME": self.alerts_table} if self.alerts_table else {}
        return {"Environment": {"Variables": variables}, "Timeout": 30}

    def invoke(self, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        self.invoked.append((FunctionName, json.loads(Payload)))
        answer = self.answers.get(FunctionName, {})
        if isinstance(answer, Exception):
            return {"FunctionError": "Unhandled", "Payload": _Body({"errorMessage": str(answer)})}
        return {"Payload": _Body(answer)}

    # dynamodbstreams
    def describe_stream(self, StreamArn: str) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "shard-0"}]}}

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, Any]:
        return {"ShardIterator": "0"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        at = int(ShardIterator)
        page = self.pages[at] if at < len(self.pages) else []
        return {"Records": page, "NextShardIterator": str(at + 1 if page else at)}


class _Body:
    def __init__(self, answer: Any) -> None:
        self.raw = json.dumps(answer).encode()

    def read(self) -> bytes:
        return self.raw


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, offline_aws: None) -> FakeAws:
    fake = FakeAws()
    monkeypatch.setattr(env, "client", fake.client)

    def targets(outputs: StackOutputs) -> redrive.Targets:
        return redrive.Targets(
            load_inventory_function=outputs.load_inventory_function_name,
            check_stock_function=outputs.check_stock_function_name,
            queue_urls={}, sqs=fake, lambda_=fake, streams=fake,
        )  # fmt: skip

    monkeypatch.setattr(redrive.Targets, "of", staticmethod(targets))
    return fake


def _object(key: str, etag: str, minutes_ago: float) -> dict[str, Any]:
    modified = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes_ago)
    return {"Key": key, "Size": 10, "ETag": f'"{etag}"', "LastModified": modified}


def _receipt(key: str, etag: str, event_time: datetime) -> dict[str, Any]:
    return {
        "ObjectKey": {"S": key}, "ReceiptId": {"S": "000006611A98307112"},
        "status": {"S": "loaded"}, "rows_written": {"N": "2"}, "rows_rejected": {"N": "0"},
        "etag": {"S": etag}, "event_time": {"S": event_time.isoformat()},
    }  # fmt: skip


def test_an_upload_is_in_flight_until_its_version_has_a_receipt(aws: FakeAws) -> None:
    now = datetime.now(UTC)
    aws.objects = [
        _object("loaded.csv", "aa", 1),
        _object("new.csv", "bb", 1),
        _object("replaced.csv", "cc", 1),  # a receipt of an older upload of the key only
        _object("dead.csv", "dd", 1),  # in LoadInventoryFailures: kept there, not in flight
        _object("old.csv", "ee", 120),  # older than an hour: not looked at
    ]
    aws.receipts = {
        "loaded.csv": [_receipt("loaded.csv", "aa", now)],
        "replaced.csv": [_receipt("replaced.csv", "00", now - timedelta(minutes=5))],
    }
    aws.dead_letters = ["dead.csv"]

    found = emulator.InFlightCheck(OUTPUTS).check()

    assert sorted(u.key for u in found.uploads) == ["new.csv", "replaced.csv"]
    assert found.notes == []


def test_a_due_alert_is_in_flight_until_alerts_sent_holds_it_completed(aws: FakeAws) -> None:
    due = _record("S1", "figs", 0, None, 1)  # new at 0: due
    zero_over_zero = _record("S1", "nuts", 0, 0, 2)  # sends nothing
    above = _record("S1", "apples", 3, None, 3)  # not at 0
    later = _record("S2", "pears", 0, 4, 4)  # 4 -> 0: due
    aws.pages = [[due, zero_over_zero], [above, later]]
    check = emulator.InFlightCheck(OUTPUTS)
    key = emulator.alert_key_function("Checker")

    found = check.check()
    assert [r["eventID"] for r in found.alerts] == ["e1", "e4"]
    assert found.alerts[0]["eventSourceARN"] == STREAM_ARN  # as Lambda gives it to Check-Stock

    aws.sent = {
        key(NoStockAlert("S1", "figs", None, "S1.csv"), "v1|figs"): "COMPLETED",
        key(NoStockAlert("S2", "pears", 4, "S2.csv"), "v4|pears"): "INPROGRESS",
    }
    assert [r["eventID"] for r in check.check().alerts] == ["e4"]

    aws.sent[key(NoStockAlert("S2", "pears", 4, "S2.csv"), "v4|pears")] = "COMPLETED"
    aws.pages.append([_record("S3", "kiwis", 0, None, 5)])  # read on: only what is new
    assert [r["eventID"] for r in check.check().alerts] == ["e5"]


def test_without_an_alerts_sent_table_alerts_are_not_checked_and_it_says_so(
    aws: FakeAws,
) -> None:
    aws.alerts_table = None

    found = emulator.InFlightCheck(OUTPUTS).check()

    assert not found
    assert found.notes == ["NoStock alerts were not checked: Checker records no alerts sent "
                           "(no AlertsSent table)"]  # fmt: skip


def test_a_stream_too_long_to_read_is_not_checked(
    aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator, "MAX_STREAM_RECORDS", 2)
    aws.pages = [[_record("S", f"i{n}", 1, None, n)] for n in range(3)]

    found = emulator.InFlightCheck(OUTPUTS).check()

    assert "more than 2 records" in found.notes[-1]


def test_settle_checks_until_nothing_is_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    upload = emulator.Upload("a.csv", 1, "aa", "2026-11-25T14:00:00.000Z")
    answers = [emulator.InFlight(uploads=[upload]), emulator.InFlight()]
    seen: list[int] = []

    class Check:
        def __init__(self, outputs: StackOutputs) -> None:
            pass

        def check(self) -> emulator.InFlight:
            return answers.pop(0)

    monkeypatch.setattr(emulator, "InFlightCheck", Check)
    monkeypatch.setattr(emulator, "SETTLE_POLL_S", 0.0)

    found = emulator.settle(OUTPUTS, 30.0, lambda f, left: seen.append(len(f.uploads)))

    assert not found
    assert seen == [1, 0]


def test_settle_gives_up_at_its_bound_with_what_is_still_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    upload = emulator.Upload("a.csv", 1, "aa", "2026-11-25T14:00:00.000Z")

    class Check:
        def __init__(self, outputs: StackOutputs) -> None:
            pass

        def check(self) -> emulator.InFlight:
            return emulator.InFlight(uploads=[upload])

    monkeypatch.setattr(emulator, "InFlightCheck", Check)

    assert emulator.settle(OUTPUTS, 0.0).uploads == [upload]  # --now: one check


def test_what_is_in_flight_is_saved_and_added_to_what_an_earlier_stop_left(state: Path) -> None:
    (state / "4599").mkdir()
    a = emulator.Upload("a.csv", 1, "aa", "2026-11-25T14:00:00.000Z")
    b = emulator.Upload("b.csv", 2, "bb", "2026-11-25T14:00:01.000Z")
    r1 = _record("S1", "figs", 0, None, 1) | {"eventSourceARN": STREAM_ARN}
    r2 = _record("S2", "pears", 0, 3, 2) | {"eventSourceARN": STREAM_ARN}
    for record in (r1, r2):
        record["dynamodb"]["ApproximateCreationDateTime"] = 1795616069

    a_again = emulator.Upload("a.csv", 3, "a2", "2026-11-25T14:00:02.000Z")  # uploaded again

    emulator.keep_unfinished(emulator.InFlight(uploads=[a], alerts=[r2]), PORT)
    emulator.keep_unfinished(emulator.InFlight(uploads=[a_again, b], alerts=[r1]), PORT)

    saved = emulator.saved_unfinished(PORT)
    assert saved is not None
    assert saved.uploads == [a_again, b]
    assert [r["eventID"] for r in saved.alerts] == ["e1", "e2"]  # stream order
    assert emulator.describe_alert(r2) == "pears at S2 (from S2.csv)"


# --- after the restart ---------------------------------------------------------------------------


def test_a_redelivery_is_the_s3_event_of_the_object_with_a_new_sequencer() -> None:
    upload = emulator.Upload("r/Zürich 1.csv", 39, "e091", "2026-11-25T14:25:29.210Z")
    before = f"{time.time_ns() // 1000:018X}"

    record = emulator.redelivery_event(upload, "uploads")["Records"][0]

    assert record["eventName"] == "ObjectCreated:Put"
    assert record["eventTime"] == upload.last_modified
    assert record["s3"]["bucket"]["name"] == "uploads"
    obj = record["s3"]["object"]
    assert obj["key"] == "r/Z%C3%BCrich+1.csv"  # encoded as S3 encodes it
    assert (obj["size"], obj["eTag"]) == (39, "e091")
    assert len(obj["sequencer"]) == 18 and obj["sequencer"] >= before


def _saved(state: Path, uploads: list[emulator.Upload], alerts: list[dict[str, Any]]) -> None:
    (state / "4599").mkdir(exist_ok=True)
    emulator.InFlight(uploads=uploads, alerts=alerts).save(emulator.unfinished_file(PORT))


def test_finish_delivers_what_was_left_and_forgets_it(state: Path, aws: FakeAws) -> None:
    upload = emulator.Upload("a.csv", 1, "aa", "2026-11-25T14:00:00.000Z")
    done_meanwhile = emulator.Upload("b.csv", 1, "bb", "2026-11-25T14:00:00.000Z")
    aws.receipts["b.csv"] = [_receipt("b.csv", "bb", datetime(2026, 11, 25, 14, tzinfo=UTC))]
    records = [_record("S", f"i{n}", 0, None, n) | {"eventSourceARN": STREAM_ARN}
               for n in range(150)]  # fmt: skip
    for record in records:
        record["dynamodb"]["ApproximateCreationDateTime"] = 1795616069
    _saved(state, [upload, done_meanwhile], records)
    aws.answers["Checker"] = {"sent": 70, "repeated": 5}

    finished = emulator.finish(OUTPUTS, PORT)

    assert finished.uploads == ["a.csv"]
    assert finished.loaded_meanwhile == ["b.csv"]
    assert (finished.records, finished.alerts_sent, finished.alerts_repeated) == (150, 140, 10)
    assert [(f, len(p.get("Records", []))) for f, p in aws.invoked] == [
        ("Loader", 1), ("Checker", 100), ("Checker", 50)
    ]  # fmt: skip
    assert not emulator.unfinished_file(PORT).exists()


def test_what_still_fails_stays_saved_for_the_next_up(state: Path, aws: FakeAws) -> None:
    upload = emulator.Upload("a.csv", 1, "aa", "2026-11-25T14:00:00.000Z")
    record = _record("S2", "pears", 0, None, 1) | {"eventSourceARN": STREAM_ARN}
    record["dynamodb"]["ApproximateCreationDateTime"] = 1795616069
    _saved(state, [upload], [record])
    aws.answers["Checker"] = RuntimeError("SNS is down")

    finished = emulator.finish(OUTPUTS, PORT)

    assert finished.uploads == ["a.csv"]
    assert [why for _, why in finished.failing] == ["Error: SNS is down"]
    left = emulator.saved_unfinished(PORT)
    assert left is not None and left.uploads == [] and len(left.alerts) == 1


def test_an_alert_whose_send_the_stop_interrupted_is_sent_once_that_send_expires(
    state: Path, aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = _record("S7", "melons", 0, None, 1) | {"eventSourceARN": STREAM_ARN}
    record["dynamodb"]["ApproximateCreationDateTime"] = 1795616069
    _saved(state, [], [record])
    monkeypatch.setattr(emulator, "IN_PROGRESS_POLL_S", 0.0)
    refused = RuntimeError(
        "NoStock for 'melons' at 'S7' was not sent (IdempotencyAlreadyInProgressError: "
        "Execution already in progress with idempotency key: ...)"
    )
    answers: list[Any] = [refused, refused, {"sent": 1, "repeated": 0}]

    def invoke(FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        aws.answers[FunctionName] = answers.pop(0)
        return FakeAws.invoke(aws, FunctionName, InvocationType, Payload)

    monkeypatch.setattr(aws, "invoke", invoke)

    finished = emulator.finish(OUTPUTS, PORT)

    assert (finished.alerts_sent, finished.failing) == (1, [])
    assert len(aws.invoked) == 3


def test_after_a_restart_objects_with_no_receipt_since_the_save_are_delivered_too(
    state: Path, aws: FakeAws
) -> None:
    saved_state = state / "4599" / "state"
    saved_state.mkdir(parents=True)
    (saved_state / "dynamodb.json").write_text("{}")  # saved now
    aws.objects = [_object("after-the-save.csv", "ff", 0), _object("long-ago.csv", "gg", 180)]

    assert emulator.finish(OUTPUTS, PORT).uploads == []  # an `up` of a running emulator
    assert emulator.finish(OUTPUTS, PORT, scan=True).uploads == ["after-the-save.csv"]


# --- the command line ----------------------------------------------------------------------------


def test_down_takes_one_of_wait_now_and_forget() -> None:
    parser = build_parser()
    assert parser.parse_args(["down"]).wait == 60.0
    assert parser.parse_args(["down", "--wait", "5"]).wait == 5.0
    assert parser.parse_args(["down", "--now"]).now
    assert parser.parse_args(["down", "--forget"]).forget
    with pytest.raises(SystemExit):
        parser.parse_args(["down", "--now", "--forget"])


def test_down_forget_deletes_the_state_even_with_no_emulator_running(
    state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{PORT}")
    (state / "4599" / "state").mkdir(parents=True)

    assert main(["down", "--forget"]) == 0

    assert not (state / "4599" / "state").exists()
    assert "the next start is empty" in " ".join(capsys.readouterr().err.split())


def test_status_says_where_the_state_of_a_stopped_emulator_is_kept(
    state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setattr(emulator, "health", lambda *a, **k: None)  # nothing answers there
    saved = state / "9" / "state"
    saved.mkdir(parents=True)
    (saved / "dynamodb.json").write_text("{}")
    left = emulator.InFlight(uploads=[emulator.Upload("a.csv", 1, "aa", "t")])
    left.save(emulator.unfinished_file(9))

    assert main(["status"]) == 1

    said = " ".join(capsys.readouterr().err.split())
    assert "not answering" in said
    assert f"saved state: {saved}/" in said
    assert "1 upload(s) with no receipt" in said
