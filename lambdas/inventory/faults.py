"""Fault injection at the SDK, inside the functions: SNS outages, DynamoDB throttling, poison.

The functions call `install(client)` on each boto3 client at cold start. When the environment
variable `INVENTORY_FAULTS` is unset or empty, `install` does nothing at all. Otherwise it
registers a botocore `before-send` handler on that client which, for the calls a fault
covers, answers with a synthesized service error instead of sending the request. botocore's
own retry logic and error parsing then see what they would see from the real service, so the
function's behaviour under the fault is its real behaviour, on AWS and on an emulator alike.

`INVENTORY_FAULTS` holds `name=value` entries separated by `;`:

- `sns-outage-until=<epoch seconds>`: every SNS `Publish` before that time gets HTTP 503
  `ServiceUnavailable` (a transient, retryable outage);
- `dynamodb-throttle=<fraction>`: that fraction of DynamoDB write calls (`BatchWriteItem`,
  `TransactWriteItems`, `PutItem`, `UpdateItem`) gets HTTP 400
  `ProvisionedThroughputExceededException` (retryable throttling), drawn per attempt;
- `sns-reject-store=<store>`: every `Publish` whose `store` message attribute equals it gets
  HTTP 400 `InvalidParameter` (not retryable: a poison record for Check-Stock).

An unknown name or a bad value raises ValueError, so a mistyped fault fails the cold start
instead of silently injecting nothing. The harness (`harness/faults.py`) builds the variable
with `FaultSettings.to_env`, so the format is written once.

Unlike the rest of this package this module imports botocore and reads `os.environ` (as a
default argument): it is an adapter the handlers opt into, never used by the domain code.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse

from inventory import config

ENV_FAULTS = "INVENTORY_FAULTS"

SNS_OUTAGE_UNTIL = "sns-outage-until"
DYNAMODB_THROTTLE = "dynamodb-throttle"
SNS_REJECT_STORE = "sns-reject-store"
KNOWN = (SNS_OUTAGE_UNTIL, DYNAMODB_THROTTLE, SNS_REJECT_STORE)

DYNAMODB_WRITES = ("BatchWriteItem", "TransactWriteItems", "PutItem", "UpdateItem")
SNS_PUBLISH = "Publish"
# Where the Publish call's `store` attribute is kept between parameter building and sending.
_CONTEXT_STORE = "inventory_faults_store"
_HANDLER_ID = "inventory-faults"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaultSettings:
    """The faults one function should inject: what `INVENTORY_FAULTS` says, parsed."""

    sns_outage_until: float | None = None  # epoch seconds
    dynamodb_throttle: float = 0.0  # fraction of write attempts
    sns_reject_store: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.dynamodb_throttle <= 1.0:
            raise ValueError(
                f"{DYNAMODB_THROTTLE} must be a fraction between 0 and 1, "
                f"got {self.dynamodb_throttle}"
            )
        if self.sns_reject_store is not None and not self.sns_reject_store.strip():
            raise ValueError(f"{SNS_REJECT_STORE} needs a store name")
        if ";" in (self.sns_reject_store or ""):
            raise ValueError(f"{SNS_REJECT_STORE}: a store name with ';' cannot be expressed")

    @classmethod
    def parse(cls, text: str) -> FaultSettings:
        """`sns-outage-until=1764077000.5;dynamodb-throttle=0.2;sns-reject-store=poison-store`."""
        values: dict[str, Any] = {}
        for entry in text.split(";"):
            if not entry.strip():
                continue
            name, sep, value = entry.partition("=")
            name, value = name.strip(), value.strip()
            if name not in KNOWN:
                raise ValueError(
                    f"unknown fault {name!r} in {ENV_FAULTS}={text!r}; known: {', '.join(KNOWN)}"
                )
            if not sep or not value:
                raise ValueError(f"fault {name!r} in {ENV_FAULTS} needs a value ({name}=...)")
            if name in values:
                raise ValueError(f"fault {name!r} appears twice in {ENV_FAULTS}={text!r}")
            values[name] = value
        return cls(
            sns_outage_until=_number(values, SNS_OUTAGE_UNTIL),
            dynamodb_throttle=_number(values, DYNAMODB_THROTTLE) or 0.0,
            sns_reject_store=values.get(SNS_REJECT_STORE),
        )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> FaultSettings:
        return cls.parse(environ.get(ENV_FAULTS, ""))

    def to_env(self) -> str:
        """The `INVENTORY_FAULTS` value that parses back into these settings ('' for none)."""
        entries = []
        if self.sns_outage_until is not None:
            entries.append(f"{SNS_OUTAGE_UNTIL}={self.sns_outage_until:.3f}")
        if self.dynamodb_throttle:
            entries.append(f"{DYNAMODB_THROTTLE}={self.dynamodb_throttle:g}")
        if self.sns_reject_store is not None:
            entries.append(f"{SNS_REJECT_STORE}={self.sns_reject_store}")
        return ";".join(entries)

    @property
    def any(self) -> bool:
        return bool(self.to_env())


def _number(values: Mapping[str, str], name: str) -> float | None:
    if name not in values:
        return None
    try:
        return float(values[name])
    except ValueError:
        raise ValueError(f"fault {name!r} needs a number, got {values[name]!r}") from None


def install(
    client: Any,
    environ: Mapping[str, str] = os.environ,
    *,
    clock: Callable[[], float] = time.time,
    rand: Callable[[], float] = random.random,
) -> None:
    """Inject the faults `environ[INVENTORY_FAULTS]` names into this boto3 client's calls.

    Unset or empty: nothing is registered. A client of a service no fault concerns (S3, for
    instance) is left alone too. Installing twice on one client registers nothing more.
    """
    text = environ.get(ENV_FAULTS, "")
    if not text.strip():
        return
    settings = FaultSettings.parse(text)  # an unknown fault fails the cold start here
    service = client.meta.service_model.service_name
    events = client.meta.events
    if service == "sns" and (settings.sns_outage_until is not None or settings.sns_reject_store):
        events.register(
            f"before-parameter-build.sns.{SNS_PUBLISH}",
            _remember_store,
            unique_id=f"{_HANDLER_ID}-sns-store",
        )
        events.register(
            f"before-send.sns.{SNS_PUBLISH}",
            _sns_fault(settings, clock),
            unique_id=f"{_HANDLER_ID}-sns",
        )
        logger.warning("%s: injecting SNS faults %s", ENV_FAULTS, settings.to_env())
    elif service == "dynamodb" and settings.dynamodb_throttle > 0:
        handler = _dynamodb_throttle(settings.dynamodb_throttle, rand)
        for operation in DYNAMODB_WRITES:
            events.register(
                f"before-send.dynamodb.{operation}",
                handler,
                unique_id=f"{_HANDLER_ID}-dynamodb-{operation}",
            )
        logger.warning("%s: injecting DynamoDB faults %s", ENV_FAULTS, settings.to_env())


# --- the handlers ------------------------------------------------------------------------------


def _remember_store(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
    """Keep Publish's `store` attribute in the request context, where before-send can see it."""
    attribute = (params.get("MessageAttributes") or {}).get(config.ALERT_ATTRIBUTE_STORE) or {}
    context[_CONTEXT_STORE] = attribute.get("StringValue")


def _sns_fault(settings: FaultSettings, clock: Callable[[], float]) -> Callable[..., Any]:
    def before_send(request: Any, **_: Any) -> AWSResponse | None:
        store = (getattr(request, "context", None) or {}).get(_CONTEXT_STORE)
        if settings.sns_reject_store is not None and store == settings.sns_reject_store:
            return _query_error(
                request, 400, "Sender", "InvalidParameter",
                f"Invalid parameter: injected fault {SNS_REJECT_STORE}={store}",
            )  # fmt: skip
        now = clock()
        if settings.sns_outage_until is not None and now < settings.sns_outage_until:
            return _query_error(
                request, 503, "Receiver", "ServiceUnavailable",
                f"Service unavailable: injected fault {SNS_OUTAGE_UNTIL}="
                f"{settings.sns_outage_until:.3f} ({settings.sns_outage_until - now:.1f} s left)",
            )  # fmt: skip
        return None

    return before_send


def _dynamodb_throttle(rate: float, rand: Callable[[], float]) -> Callable[..., Any]:
    def before_send(request: Any, **_: Any) -> AWSResponse | None:
        if rand() >= rate:
            return None
        return _json_error(
            request,
            400,
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            f"The level of configured provisioned throughput for the table was exceeded "
            f"(injected fault {DYNAMODB_THROTTLE}={rate:g})",
        )

    return before_send


# --- synthesized responses ---------------------------------------------------------------------


class _Body:
    """The `raw` of an AWSResponse: botocore reads a non-streaming body through `stream()`."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _response(
    request: Any, status: int, content_type: str, body: bytes, request_id: str
) -> AWSResponse:
    headers = {
        "x-amzn-RequestId": request_id,
        "Content-Type": content_type,
        "Content-Length": str(len(body)),
    }
    return AWSResponse(request.url, status, headers, _Body(body))


def _query_error(request: Any, status: int, kind: str, code: str, message: str) -> AWSResponse:
    """An error as a query-protocol service (SNS) sends it."""
    request_id = str(uuid.uuid4())
    body = (
        '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
        f"<Error><Type>{kind}</Type><Code>{code}</Code><Message>{_xml(message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return _response(request, status, "text/xml", body.encode(), request_id)


def _json_error(request: Any, status: int, error_type: str, message: str) -> AWSResponse:
    """An error as a JSON 1.0 protocol service (DynamoDB) sends it."""
    body = json.dumps({"__type": error_type, "message": message}).encode()
    return _response(request, status, "application/x-amz-json-1.0", body, str(uuid.uuid4()))


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
