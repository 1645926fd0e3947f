"""The inventory CSV format (`store,item,count`): parse bytes into rows and rejections.

Rules (docs/design.md, CSV contract):
- UTF-8, with or without a BOM; LF, CRLF or CR line endings; standard CSV quoting.
- The first non-blank record is the header `store,item,count`, matched case-insensitively
  with surrounding spaces ignored. Without it the whole file is rejected.
- Store and item are trimmed of surrounding whitespace and must not be empty, must not
  contain a line break, and must fit DynamoDB's key size limits.
- `count` is a whole number >= 0 written with ASCII digits.
- Blank lines are skipped. A bad row is rejected with its line number and reason; the good
  rows still load. When (store, item) appears twice, the last row wins.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

HEADER = ("store", "item", "count")
MAX_STORE_BYTES = 2048  # DynamoDB partition key limit
MAX_ITEM_BYTES = 1024  # DynamoDB sort key limit
MAX_COUNT_DIGITS = 38  # DynamoDB number precision
_DIGITS = re.compile(r"[0-9]+")
_SIGNED_INTEGER = re.compile(r"[+-][0-9]+")
# csv refuses a field over 128 Ki characters with an error that would reject the whole file;
# such a field is one bad row (too long for a key). The file is in memory already, so a
# higher limit costs nothing. (Process-wide, and only ever raised: 2**31 - 1 fits a C long.)
csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))


@dataclass(frozen=True)
class Row:
    """One valid inventory row and the line it came from."""

    store: str
    item: str
    count: int
    line: int

    @property
    def key(self) -> tuple[str, str]:
        return (self.store, self.item)


@dataclass(frozen=True)
class RowError:
    """A rejected row: its 1-based line number and a reason a person can read."""

    line: int
    reason: str


@dataclass(frozen=True)
class Duplicate:
    """(store, item) seen again: the row on `superseded_line` lost to `line`."""

    store: str
    item: str
    superseded_line: int
    line: int


@dataclass(frozen=True)
class ParseResult:
    """What a file contains: valid rows (one per key, last wins), rejections, duplicates."""

    rows: tuple[Row, ...]
    errors: tuple[RowError, ...]
    duplicates: tuple[Duplicate, ...]
    file_error: str | None = None

    @property
    def accepted(self) -> bool:
        return self.file_error is None


def _rejected(reason: str) -> ParseResult:
    return ParseResult(rows=(), errors=(), duplicates=(), file_error=reason)


def _decode(data: bytes) -> str | ParseResult:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _rejected(f"not UTF-8 text: invalid byte at offset {exc.start}")


def _is_blank(record: list[str]) -> bool:
    return all(not field.strip() for field in record)


def parse_count(text: str) -> int | str:
    """Return the count, or the reason it is not a whole number >= 0."""
    value = text.strip()
    if not value:
        return "count is empty"
    if _SIGNED_INTEGER.fullmatch(value):
        if value.startswith("-") and value.strip("-0"):
            return f"count must be >= 0, got {value}"
        value = value[1:]
    elif not _DIGITS.fullmatch(value):
        return f"count must be a whole number, got {_show(value)}"
    significant = value.lstrip("0")
    if len(significant) > MAX_COUNT_DIGITS:
        return f"count has more than {MAX_COUNT_DIGITS} digits"
    # int() refuses strings over 4,300 digits, leading zeros included; parse never raises.
    return int(significant or "0")


def _show(value: str, limit: int = 40) -> str:
    shown = value if len(value) <= limit else value[:limit] + "…"
    return repr(shown)


def _check_name(field: str, value: str, max_bytes: int) -> str | None:
    if not value:
        return f"{field} is empty"
    if "\n" in value or "\r" in value:
        return f"{field} contains a line break"
    if len(value.encode("utf-8")) > max_bytes:
        return f"{field} is longer than {max_bytes} bytes"
    return None


def parse_row(record: list[str], line: int) -> Row | RowError:
    """Validate one CSV record (already split into fields)."""
    if len(record) != len(HEADER):
        return RowError(line, f"expected 3 fields (store,item,count), got {len(record)}")
    store, item, count_text = (field.strip() for field in record)
    for field, value, limit in (("store", store, MAX_STORE_BYTES), ("item", item, MAX_ITEM_BYTES)):
        problem = _check_name(field, value, limit)
        if problem:
            return RowError(line, problem)
    count = parse_count(count_text)
    if isinstance(count, str):
        return RowError(line, count)
    return Row(store=store, item=item, count=count, line=line)


def is_header(record: list[str]) -> bool:
    """True when the record is `store,item,count`, any case, surrounding spaces ignored."""
    return tuple(field.strip().lower() for field in record) == HEADER


def parse_inventory(data: bytes) -> ParseResult:
    """Parse an uploaded inventory file. Never raises for any input bytes."""
    text = _decode(data)
    if isinstance(text, ParseResult):
        return text
    if "\x00" in text:
        return _rejected("contains NUL characters; not a text CSV file")
    reader = csv.reader(io.StringIO(text, newline=""))
    latest: dict[tuple[str, str], Row] = {}
    errors: list[RowError] = []
    duplicates: list[Duplicate] = []
    header_seen = False
    consumed = 0  # physical lines read so far; the next record starts on consumed + 1
    try:
        for record in reader:
            line = consumed + 1
            consumed = reader.line_num
            if _is_blank(record):
                continue
            if not header_seen:
                if not is_header(record):
                    shown = _show(",".join(record))
                    return _rejected(f"line {line}: header must be store,item,count (got {shown})")
                header_seen = True
                continue
            parsed = parse_row(record, line)
            if isinstance(parsed, RowError):
                errors.append(parsed)
                continue
            earlier = latest.pop(parsed.key, None)
            if earlier is not None:
                duplicates.append(Duplicate(parsed.store, parsed.item, earlier.line, line))
            latest[parsed.key] = parsed
    except csv.Error as exc:
        return _rejected(f"line {consumed + 1}: malformed CSV ({exc})")
    if not header_seen:
        return _rejected("empty file: no header store,item,count")
    return ParseResult(
        rows=tuple(latest.values()), errors=tuple(errors), duplicates=tuple(duplicates)
    )
