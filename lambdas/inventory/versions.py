"""Versions: which upload a row's value came from, so the newest upload always wins.

An item's version is the upload it came from: the S3 event time, then the event's sequencer
(which orders uploads of the same key), then the row's line in the file (so that, within one
file, a later row of the same key wins). Versions are strings that compare in that order,
which lets DynamoDB compare them in a condition (`Version < :new`).

S3 delivers notifications at least once and in no guaranteed order; with versions, an older
or repeated event can never overwrite a newer value, whatever order the events arrive in.
"""

from __future__ import annotations

from datetime import UTC, datetime

SEQUENCER_DIGITS = 32  # S3 sequencers are hexadecimal strings of varying length; compare as numbers
LINE_DIGITS = 10
SEPARATOR = "|"


class VersionError(ValueError):
    """An event time or sequencer that cannot order uploads."""


def event_instant(event_time: str) -> str:
    """The S3 event time in one fixed-width form (UTC, microseconds), which sorts as text."""
    text = event_time.strip()
    if not text:
        raise VersionError("the S3 event has no eventTime")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise VersionError(f"eventTime {event_time!r} is not an ISO-8601 time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sequence(sequencer: str) -> str:
    """The sequencer, upper-case and left-padded so that text order is numeric order."""
    text = sequencer.strip().upper()
    if len(text) > SEQUENCER_DIGITS or any(c not in "0123456789ABCDEF" for c in text):
        # Not a sequencer S3 would send (e.g. an event built by hand): still unique, still
        # comparable, but sorted after every real one of the same instant.
        return "~" + text
    return text.rjust(SEQUENCER_DIGITS, "0")


def upload_version(event_time: str, sequencer: str) -> str:
    """The version of every row of one upload, before the row's own line is added."""
    return f"{event_instant(event_time)}{SEPARATOR}{sequence(sequencer)}"


def row_version(upload: str, line: int) -> str:
    """The version of one row: its upload's, then its line."""
    return f"{upload}{SEPARATOR}{line:0{LINE_DIGITS}d}"


def upload_of(version: str) -> str:
    """The upload part of a row version."""
    return version.rsplit(SEPARATOR, 1)[0]
