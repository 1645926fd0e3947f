"""Fault injection for rehearsals: duplicated and late deliveries, SNS outages, throttling.

What a run can be asked to inject (`Faults.parse("duplicate=0.05,late=0.02,sns-outage=10,
throttle=0.2")`), and the injectors:

- **duplicated deliveries** (`duplicate=P`): after a file's receipt arrives, with probability
  P, Load-Inventory is invoked again (`InvocationType=Event`, as S3 invokes it) with the S3
  event rebuilt from the receipt (`s3_event`, `redeliver`);
- **late deliveries** (`late=P`): with probability P a file's rebuilt event is held and
  delivered after a newer file of the same store has its receipt: an event for an older
  upload arriving after newer ones (`DeliveryInjector`);
- **an SNS outage** of N seconds (`sns-outage=N`): Check-Stock's SNS Publish calls fail with
  503 ServiceUnavailable until then (`sns_outage`);
- **DynamoDB throttling** (`throttle=R`): that fraction of Load-Inventory's DynamoDB write
  calls fails with ProvisionedThroughputExceededException for the whole run
  (`dynamodb_throttle`).

The last two are injected at the SDK inside the function (`inventory.faults`), switched on
through the function's `INVENTORY_FAULTS` environment variable and always switched off
again, so they behave the same on MiniStack and on AWS. Every injection is recorded in an
`InjectionLog`: what, when, to which file or function.

The pipeline must absorb all of this: the loader treats a repeated delivery as a no-op and
an older upload's rows as stale, and Check-Stock retries its batch until SNS answers. So a
run with faults must still end with 0 differences.
"""

from __future__ import annotations

import hashlib
import json
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from harness import env
from infra.outputs import StackOutputs
from inventory.faults import ENV_FAULTS, FaultSettings
from inventory.receipts import Receipt

DUPLICATE = "duplicate"
LATE = "late"
SNS_OUTAGE = "sns-outage"
THROTTLE = "throttle"
KINDS = (DUPLICATE, LATE, SNS_OUTAGE, THROTTLE)
# After the last injected delivery, how long to let asynchronous invocations run before the
# run is declared over (they cannot be observed: a repeated delivery changes nothing).
SETTLE_S = 5.0
# After an SNS outage ends, how long Check-Stock gets to catch up (its stream retries the
# failed batch about once a second) before its environment is restored.
OUTAGE_GRACE_S = 5.0
_WAITER = {"Delay": 0.5, "MaxAttempts": 600}


# --- what to inject ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Faults:
    """What a run injects. Rates are per-file probabilities; the outage is in seconds."""

    duplicate: float = 0.0
    late: float = 0.0
    sns_outage_s: float = 0.0
    throttle: float = 0.0

    def __post_init__(self) -> None:
        for name in ("duplicate", "late", "throttle"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1, got {value:g}")
        if self.sns_outage_s < 0:
            raise ValueError(f"{SNS_OUTAGE} must be >= 0 seconds, got {self.sns_outage_s:g}")

    @classmethod
    def parse(cls, text: str) -> Faults:
        """`duplicate=0.05,late=0.02,sns-outage=10,throttle=0.2`; '' or 'none' for no faults."""
        if text.strip().lower() in {"", "none"}:
            return cls()
        values: dict[str, float] = {}
        for entry in text.split(","):
            name, sep, value = (part.strip() for part in entry.partition("="))
            if name not in KINDS:
                known = ", ".join(f"{kind}=..." for kind in KINDS)
                raise ValueError(f"unknown fault {name!r} in {text!r}: use {known}")
            if not sep or not value:
                raise ValueError(f"fault {name!r} needs a value, as in {name}=0.1")
            if name in values:
                raise ValueError(f"fault {name!r} is given twice in {text!r}")
            try:
                values[name] = float(value)
            except ValueError:
                raise ValueError(f"fault {name!r}: {value!r} is not a number") from None
        return cls(
            duplicate=values.get(DUPLICATE, 0.0),
            late=values.get(LATE, 0.0),
            sns_outage_s=values.get(SNS_OUTAGE, 0.0),
            throttle=values.get(THROTTLE, 0.0),
        )

    def __bool__(self) -> bool:
        return any((self.duplicate, self.late, self.sns_outage_s, self.throttle))

    @property
    def redelivers(self) -> bool:
        """Whether files get extra deliveries (duplicated or late)."""
        return bool(self.duplicate or self.late)

    def describe(self) -> str:
        """The spec as `parse` reads it ('none' for no faults)."""
        parts = [
            f"{name}={value:g}"
            for name, value in (
                (DUPLICATE, self.duplicate),
                (LATE, self.late),
                (SNS_OUTAGE, self.sns_outage_s),
                (THROTTLE, self.throttle),
            )
            if value
        ]
        return ",".join(parts) or "none"


# --- the log -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Injection:
    """One fault injected: its kind, when (epoch seconds), to what, and the details."""

    kind: str
    at: float
    target: str  # an object key, or a function name
    detail: str = ""


@dataclass
class InjectionLog:
    """Every injection of a run, in order; safe to add to from several threads."""

    spec: Faults = field(default_factory=Faults)
    entries: list[Injection] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def failed(self, kind: str, target: str, error: BaseException) -> None:
        """An injection that could not be made (it is not counted as injected)."""
        with self._lock:
            self.errors.append(f"{kind} {target}: {error}")

    def add(self, kind: str, target: str, detail: str = "") -> Injection:
        entry = Injection(kind, time.time(), target, detail)
        with self._lock:
            self.entries.append(entry)
        return entry

    def snapshot(self) -> list[Injection]:
        with self._lock:
            return list(self.entries)

    def counts(self) -> dict[str, int]:
        found = Counter(entry.kind for entry in self.snapshot())
        return {kind: found[kind] for kind in KINDS if found[kind]}

    def summary(self) -> str:
        """One line for a summary table: what was injected, and how often."""
        if not self.spec:
            return "none"
        parts = []
        counts = self.counts()
        if self.spec.duplicate:
            parts.append(f"{counts.get(DUPLICATE, 0)} duplicated deliveries")
        if self.spec.late:
            parts.append(f"{counts.get(LATE, 0)} late deliveries")
        if self.spec.sns_outage_s:
            parts.append(f"SNS outage {self.spec.sns_outage_s:g} s on Check-Stock")
        if self.spec.throttle:
            parts.append(f"DynamoDB throttling {self.spec.throttle:g} on Load-Inventory")
        return ", ".join(parts)

    def as_dict(self, limit: int | None = None, t0: float | None = None) -> dict[str, Any]:
        """For summary.json: the spec, the counts, and the injections (the first `limit`;
        with `t0`, each also says when relative to it, as `at_s`)."""
        entries = self.snapshot()
        shown = entries if limit is None else entries[:limit]
        injections = [
            asdict(entry) | ({"at_s": round(entry.at - t0, 3)} if t0 is not None else {})
            for entry in shown
        ]
        return {
            "spec": self.spec.describe(),
            "counts": self.counts(),
            "summary": self.summary(),
            "injections": injections,
            "injections_total": len(entries),
            "errors": list(self.errors),
        }

    def write(self, path: Path) -> Path:
        """The whole log as JSON (spec, counts and every injection)."""
        path.write_text(json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n", "utf-8")
        return path


# --- deliveries --------------------------------------------------------------------------------


def s3_event(receipt: Receipt, bucket: str = "", region: str | None = None) -> dict[str, Any]:
    """The S3 ObjectCreated:Put event that delivered the upload this receipt is about.

    The key is URL-encoded as S3 encodes it (`quote_plus`); the sequencer is the receipt's
    id and the event time is the upload's, so the loader sees the same upload again.
    """
    name = receipt.bucket or bucket
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region or env.client("lambda").meta.region_name,
                "eventTime": receipt.event_time,
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "inventory-harness"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {
                    "x-amz-request-id": f"redelivery-{receipt.receipt_id}",
                    "x-amz-id-2": "inventory-harness",
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "inventory-harness-redelivery",
                    "bucket": {
                        "name": name,
                        "ownerIdentity": {"principalId": "inventory-harness"},
                        "arn": f"arn:aws:s3:::{name}",
                    },
                    "object": {
                        "key": quote_plus(receipt.object_key, safe="/"),
                        "size": receipt.size,
                        "eTag": receipt.etag,
                        "sequencer": receipt.receipt_id,
                    },
                },
            }
        ]
    }


def redeliver(
    outputs: StackOutputs,
    receipt: Receipt,
    *,
    log: InjectionLog | None = None,
    kind: str = DUPLICATE,
    detail: str = "",
) -> None:
    """Invoke Load-Inventory again, asynchronously, with the event that delivered `receipt`."""
    event = s3_event(receipt, outputs.bucket_name)
    env.client("lambda").invoke(
        FunctionName=outputs.load_inventory_function_name,
        InvocationType="Event",
        Payload=json.dumps(event).encode(),
    )
    if log is not None:
        log.add(kind, receipt.object_key, detail or f"receipt {receipt.receipt_id}")


def chance(seed: int, kind: str, key: str) -> float:
    """A number in [0, 1) fixed by (seed, kind, key): the same files are picked on every run
    with the same seed, whatever order their receipts arrive in."""
    digest = hashlib.sha256(f"{seed}\0{kind}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class DeliveryInjector:
    """Duplicated and late deliveries, decided per file as each receipt arrives.

    Call `on_receipt` with every file's receipt, in each store's upload order (a store's next
    file is uploaded only after the previous one's receipt, so they arrive that way). A file
    is duplicated right after its own receipt; a file picked to be late is held, and its
    event delivered once the next file of its store has its receipt. `settle` waits for the
    asynchronous deliveries to run; `pending_late` are the held events no newer file came for
    (they are not delivered, and not counted as injected).
    """

    def __init__(
        self,
        outputs: StackOutputs,
        faults: Faults,
        log: InjectionLog,
        seed: int = 0,
        deliver: Callable[[Receipt], None] | None = None,
    ) -> None:
        self.outputs = outputs
        self.faults = faults
        self.log = log
        self.seed = seed
        self._deliver = deliver or self._invoke
        self._held: dict[str, Receipt] = {}  # store -> its last file's receipt, held late
        self._lock = threading.Lock()
        self._last_injection = 0.0

    def _invoke(self, receipt: Receipt) -> None:
        redeliver(self.outputs, receipt)

    def on_receipt(self, store: str, receipt: Receipt) -> None:
        """A file of `store` has its receipt: deliver what is due."""
        with self._lock:
            late = self._held.pop(store, None)
            if self.faults.late and chance(self.seed, LATE, receipt.object_key) < self.faults.late:
                self._held[store] = receipt
        if late is not None:
            self._try(late, LATE, f"after {receipt.object_key} (receipt {late.receipt_id})")
        duplicate = self.faults.duplicate
        if duplicate and chance(self.seed, DUPLICATE, receipt.object_key) < duplicate:
            self._try(receipt, DUPLICATE, f"receipt {receipt.receipt_id}")

    def _try(self, receipt: Receipt, kind: str, detail: str) -> None:
        # A delivery that cannot be made is logged; it must not stop the upload it rides on.
        try:
            self._deliver(receipt)
        except Exception as exc:
            self.log.failed(kind, receipt.object_key, exc)
        else:
            self.log.add(kind, receipt.object_key, detail)
        self._last_injection = time.monotonic()

    @property
    def pending_late(self) -> list[str]:
        with self._lock:
            return sorted(r.object_key for r in self._held.values())

    def settle(
        self, seconds: float = SETTLE_S, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        """Give the last injected deliveries `seconds` to run (nothing observable says when)."""
        if self._last_injection:
            sleep(max(0.0, self._last_injection + seconds - time.monotonic()))


# --- faults inside the functions ---------------------------------------------------------------


def _environment(function_name: str) -> dict[str, str]:
    configuration = env.client("lambda").get_function_configuration(FunctionName=function_name)
    variables: dict[str, str] = (configuration.get("Environment") or {}).get("Variables") or {}
    return dict(variables)


def _set_environment(function_name: str, variables: Mapping[str, str]) -> None:
    client = env.client("lambda")
    waiter = client.get_waiter("function_updated_v2")
    waiter.wait(FunctionName=function_name, WaiterConfig=_WAITER)  # no update in progress
    client.update_function_configuration(
        FunctionName=function_name, Environment={"Variables": dict(variables)}
    )
    waiter.wait(FunctionName=function_name, WaiterConfig=_WAITER)


@contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold a Ctrl-C until the block is done (only the main thread can; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt


@contextmanager
def function_faults(
    function_name: str,
    settings: FaultSettings,
    log: InjectionLog | None = None,
    kind: str = "",
    detail: str = "",
) -> Iterator[dict[str, str]]:
    """Set `INVENTORY_FAULTS` on a function for the block; restore its environment after.

    The other variables are kept. The original environment comes back however the block
    ends, Ctrl-C included. A value left behind by a run that was killed outright is not
    taken for the original: the stack never sets the variable itself. Yields the original.
    Both AWS and MiniStack start new workers for the new environment; MiniStack (1.5.33) also
    kills a worker busy at that moment, where AWS lets it finish, so switch faults while the
    function is idle (before a run, and after it has settled).
    """
    with function_environment(
        function_name, {ENV_FAULTS: settings.to_env()}, forget=(ENV_FAULTS,)
    ) as original:
        if log is not None:
            value = f"{ENV_FAULTS}={settings.to_env()}"
            log.add(kind or "function", function_name, f"{value}; {detail}" if detail else value)
        yield original


@contextmanager
def function_environment(
    function_name: str, changes: Mapping[str, str], forget: tuple[str, ...] = ()
) -> Iterator[dict[str, str]]:
    """Change some of a function's environment variables for the block; restore them after.

    The original environment comes back however the block ends, Ctrl-C included; `forget`
    names variables never taken for the original (a value a killed run left behind). Yields
    the original. (Also how a test breaks a deployed function on purpose, e.g. its TOPIC_ARN.)
    """
    original = _environment(function_name)
    for name in forget:
        original.pop(name, None)
    try:
        with _sigint_deferred():
            _set_environment(function_name, {**original, **changes})
        yield original
    finally:
        with _sigint_deferred():
            _set_environment(function_name, original)


@contextmanager
def sns_outage(
    outputs: StackOutputs, seconds: float, log: InjectionLog | None = None
) -> Iterator[float]:
    """Check-Stock's SNS Publish calls fail (503) for `seconds` from now; yields the end
    (epoch seconds). On a normal exit the block first waits for the outage to be over and
    for Check-Stock to catch up, so its environment is never changed under a busy worker."""
    until = time.time() + seconds
    settings = FaultSettings(sns_outage_until=until)
    ends = datetime.fromtimestamp(until, UTC).isoformat(timespec="milliseconds")
    detail = f"Publish fails for {seconds:g} s, until {ends}"
    with function_faults(outputs.check_stock_function_name, settings, log, SNS_OUTAGE, detail):
        yield until
        time.sleep(max(0.0, until + OUTAGE_GRACE_S - time.time()))


@contextmanager
def dynamodb_throttle(
    outputs: StackOutputs, rate: float, log: InjectionLog | None = None
) -> Iterator[None]:
    """That fraction of Load-Inventory's DynamoDB writes is throttled for the block."""
    with function_faults(
        outputs.load_inventory_function_name, FaultSettings(dynamodb_throttle=rate), log, THROTTLE
    ):
        yield


@contextmanager
def sns_reject_store(
    outputs: StackOutputs, store: str, log: InjectionLog | None = None
) -> Iterator[None]:
    """Check-Stock cannot publish any alert of `store` (400, not retried): a poison record."""
    with function_faults(
        outputs.check_stock_function_name, FaultSettings(sns_reject_store=store), log, "poison"
    ):
        yield


@dataclass(frozen=True)
class Applied:
    """The faults in force inside the functions (see `function_level`)."""

    log: InjectionLog
    outage_until: float | None = None  # epoch seconds

    def wait_for_outage(self, sleep: Callable[[float], None] = time.sleep) -> None:
        """Until the SNS outage is over and Check-Stock has had time to catch up."""
        if self.outage_until is not None:
            sleep(max(0.0, self.outage_until + OUTAGE_GRACE_S - time.time()))


@contextmanager
def function_level(outputs: StackOutputs, faults: Faults, log: InjectionLog) -> Iterator[Applied]:
    """The faults a run injects inside the functions (throttling, the SNS outage) for the
    block, both switched on as it starts. The deliveries are `DeliveryInjector`'s."""
    with ExitStack() as stack:
        if faults.throttle:
            stack.enter_context(dynamodb_throttle(outputs, faults.throttle, log))
        until = None
        if faults.sns_outage_s:
            until = stack.enter_context(sns_outage(outputs, faults.sns_outage_s, log))
        yield Applied(log, until)
