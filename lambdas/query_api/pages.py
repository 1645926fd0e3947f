"""Pages of a list: the `next` token, and taking one page from a lazy read.

The token is base64url (unpadded) of a small JSON document: `{"k": <exclusive start key>}`,
plus `"d": <day>` for receipts, which are walked day by day. It is opaque to clients, but
it comes back from them, so it is decoded strictly: anything that is not exactly a token
this API issued for the route is a bad parameter, never an error deeper down.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import islice

from query_api.reads import Item, Key

# A start key holds a few KB of key values at most (a partition key is at most 2,048 bytes,
# a sort key 1,024); kept well inside the 16 KB request line of the gateways in front.
MAX_TOKEN_CHARS = 8_192
TOKEN_PATTERN = r"^[A-Za-z0-9_-]*$"  # base64url without padding (the OpenAPI document's)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class BadParameterError(ValueError):
    """A query parameter the API cannot use; the message names it."""

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter}: {problem}")
        self.parameter = parameter


@dataclass(frozen=True)
class Position:
    """Where the next page starts: after `key` (on `day`, for receipts)."""

    key: Key
    day: str | None = None


def encode(position: Position) -> str:
    """The `next` token for a position."""
    document: dict[str, object] = {"k": position.key}
    if position.day is not None:
        document["d"] = position.day
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(token: str, key_names: Sequence[str], with_day: bool = False) -> Position:
    """The position a `next` token names, or BadParameterError('next', ...)."""
    if len(token) > MAX_TOKEN_CHARS or not _BASE64URL.fullmatch(token):
        raise _bad("not a token of this API (expected base64url)")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        document = json.loads(raw.decode())
    except (binascii.Error, ValueError) as exc:  # UnicodeDecodeError and JSON errors too
        raise _bad("not a token of this API (not base64url JSON)") from exc
    expected = {"k", "d"} if with_day else {"k"}
    if not isinstance(document, dict) or set(document) != expected:
        raise _bad("not a token of this API (wrong fields)")
    key = document["k"]
    if (
        not isinstance(key, dict)
        or set(key) != set(key_names)
        or not all(isinstance(value, str) and value for value in key.values())
    ):
        raise _bad("not a token of this list (wrong key)")
    day = document.get("d")
    if with_day and not (isinstance(day, str) and _is_day(day)):
        raise _bad("not a token of this list (wrong day)")
    return Position(key, day)


def _is_day(text: str) -> bool:
    if not _DAY.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _bad(problem: str) -> BadParameterError:
    return BadParameterError("next", problem)


def key_of(item: Item, key_names: Sequence[str]) -> Key:
    """The exclusive start key that resumes a read right after `item`."""
    return {name: str(item[name]) for name in key_names}


def take(items: Iterator[Item], limit: int) -> tuple[list[Item], bool]:
    """Up to `limit` items, and whether more follow (one more is read to know it)."""
    got = list(islice(items, limit + 1))
    return got[:limit], len(got) > limit
