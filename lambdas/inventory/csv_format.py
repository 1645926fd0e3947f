"""The inventory CSV format (`store,item,count`): parse bytes into rows and rejections.

Rules (docs/design.md, CSV rules):
- UTF-8, with or without a BOM at the very start; LF, CRLF or CR line endings; standard CSV
  quoting (a quoted field may span lines).
- The first non-blank record is the header `store,item,count`, matched case-insensitively
  with surrounding spaces ignored. Without it the whole file is rejected, and so it is when
  the header line is not text (not UTF-8, or NUL bytes: an image, an archive, UTF-16).
- Every physical line is decoded on its own. A later line that is not UTF-8 or holds a NUL
  rejects only the record it belongs to. So does a line longer than MAX_LINE_BYTES, or a
  record whose quoted field runs over lines beyond that: it is cut there, and the parser
  reads on from the next line.
- Store and item are trimmed of surrounding whitespace and must not be empty, must not
  contain a line break, and must fit DynamoDB's key size limits.
- `count` is a whole number >= 0 written with ASCII digits.
- Blank lines are skipped. A bad row is rejected with its line number and reason; the good
  rows still load. When (store, item) appears twice, the last row wins (in a stream, within
  one window of rows; windows are applied in order, so the last row still wins).

`parse_stream` reads a file as chunks of bytes, in memory bounded by one window of rows and
one line, and yields its valid rows window by window. `parse_inventory` is the same parser
over bytes already in memory, with one window for the whole file.
"""

from __future__ import annotations

import csv
import gc
import io
import itertools
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

HEADER = ("store", "item", "count")
MAX_STORE_BYTES = 2048  # DynamoDB partition key limit
MAX_ITEM_BYTES = 1024  # DynamoDB sort key limit
MAX_COUNT_DIGITS = 38  # DynamoDB number precision
_COUNT_LIMIT = 10**MAX_COUNT_DIGITS
_SMALL_COUNTS = {str(n): n for n in range(1000)}  # most counts, as written: read at a lookup
MAX_ERRORS_KEPT = 20  # a receipt keeps the first errors; the count covers all of them
WINDOW_ROWS = 10_000  # valid rows deduplicated together (last row wins) before they are yielded
MAX_LINE_BYTES = 1 << 20  # a longer line (or quoted record) is one rejected row, never held whole
_DIGITS = re.compile(r"[0-9]+")
_SIGNED_INTEGER = re.compile(r"[+-][0-9]+")
# Records are at most MAX_LINE_BYTES, but csv counts a field's characters against a limit of
# its own (128 Ki by default), over which it raises. Raise it so that a long field is one row
# rejected as too long for a key. (Process-wide, and only ever raised: 2**31 - 1 fits a C long.)
csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))

# Bytes decoded and split into lines at a time (tests lower it). A block's records are checked
# together while they are in the CPU's cache: 64 KiB measured slower than 32 KiB.
_BLOCK_BYTES = 1 << 15
_BOM = b"\xef\xbb\xbf"
_HEAD_BYTES = 16  # the start of a file, kept to name what a binary file looks like
# Bytes that are not UTF-8, as the "surrogateescape" error handler decodes them.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")
# What a file that is not text looks like, by its first bytes.
_SIGNATURES = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"PK\x03\x04", "a ZIP archive, such as an .xlsx workbook"),
    (b"\xd0\xcf\x11\xe0", "an old-format Office document (.xls)"),
    (b"\xfd7zXZ\x00", "an xz-compressed file"),
    (b"\x28\xb5\x2f\xfd", "a zstd-compressed file"),
    (b"\xff\xfe", "UTF-16 text, not UTF-8"),
    (b"\xfe\xff", "UTF-16 text, not UTF-8"),
)


class Row(tuple[str, str, int, int]):
    """One valid inventory row and the line it came from: (store, item, count, line).

    A tuple subclass, so that the parser builds a block's rows in one C call over its
    columns instead of one Python call per row. Read it by name; `count` is the count, not
    tuple's method.
    """

    __slots__ = ()

    def __new__(cls, store: str, item: str, count: int, line: int) -> Row:
        return tuple.__new__(cls, (store, item, count, line))

    def __getnewargs__(self) -> tuple[str, str, int, int]:  # copy and pickle call __new__
        return (self[0], self[1], self[2], self[3])

    def __repr__(self) -> str:
        return f"Row(store={self[0]!r}, item={self[1]!r}, count={self[2]!r}, line={self[3]!r})"

    @property
    def store(self) -> str:
        return self[0]

    @property
    def item(self) -> str:
        return self[1]

    @property
    def count(self) -> int:  # type: ignore[override]
        return self[2]

    @property
    def line(self) -> int:
        return self[3]

    @property
    def key(self) -> tuple[str, str]:
        return (self[0], self[1])


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

    @property
    def error_count(self) -> int:
        return len(self.errors)

    @property
    def duplicate_count(self) -> int:
        return len(self.duplicates)


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


# --- physical lines from chunks of bytes -----------------------------------------------------


class _Run(NamedTuple):
    """Complete lines: one text, each line with its ending, none longer than MAX_LINE_BYTES."""

    text: str
    dirty: bool  # some line may not be text: bytes that are not UTF-8 (lone surrogates), NUL
    line_break: str | None  # when clean, the one line break all lines use; else None


# What `_physical_lines` yields: a run of lines, or None for one line longer than
# MAX_LINE_BYTES, which is dropped as it is read.
_Lines = _Run | None


def _pieces(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The chunks, a large one cut into pieces of at most _BLOCK_BYTES."""
    step = _BLOCK_BYTES
    for chunk in chunks:
        if len(chunk) <= step:
            if chunk:
                yield bytes(chunk)
            continue
        with memoryview(chunk) as view:
            for start in range(0, len(view), step):
                yield bytes(view[start : start + step])


def _first_break(data: bytes) -> int:
    """Index of the first CR or LF in data, or -1."""
    lf, cr = data.find(b"\n"), data.find(b"\r")
    return lf if cr < 0 else cr if lf < 0 else min(lf, cr)


def _complete(buf: bytearray) -> int:
    """How many bytes of buf are complete lines. A CR at the very end waits: an LF may follow."""
    end = max(buf.rfind(b"\n"), buf.rfind(b"\r"))
    if buf.endswith(b"\r"):
        end = max(buf.rfind(b"\n", 0, end), buf.rfind(b"\r", 0, end))
    return end + 1


def _ending(line: str) -> int:
    return 2 if line.endswith("\r\n") else 1 if line.endswith(("\r", "\n")) else 0


def _utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def _line_break(data: bytearray, end: int) -> str | None:
    """The one line break data[:end] uses (LF when none), or None when it mixes them."""
    if data.find(b"\r", 0, end) < 0:
        return "\n"
    if data.find(b"\n", 0, end) < 0:
        return "\r"
    crlf = data.count(b"\r\n", 0, end)
    return "\r\n" if crlf == data.count(b"\r", 0, end) == data.count(b"\n", 0, end) else None


def _split(text: str) -> io.StringIO:
    """The lines of text, split exactly where csv expects lines to end: CR, LF or CRLF."""
    return io.StringIO(text, newline="")


def _take(buf: bytearray, cut: int) -> Iterator[_Lines]:
    """Decode and split the first `cut` bytes of buf (whole lines), and drop them from buf."""
    dirty = buf.find(b"\x00", 0, cut) >= 0  # a NUL byte is a NUL character, and only it is
    with memoryview(buf) as view, view[:cut] as block:
        try:
            text = str(block, "utf-8")
        except UnicodeDecodeError:
            text, dirty = str(block, "utf-8", "surrogateescape"), True
    line_break = None if dirty else _line_break(buf, cut)
    del buf[:cut]
    if cut <= MAX_LINE_BYTES:
        yield _Run(text, dirty, line_break)
        return
    run: list[str] = []
    for line in _split(text):
        if _utf8_bytes(line) - _ending(line) > MAX_LINE_BYTES:
            if run:
                yield _Run("".join(run), dirty, line_break)
                run = []
            yield None
        else:
            run.append(line)
    if run:
        yield _Run("".join(run), dirty, line_break)


def _physical_lines(pieces: Iterable[bytes]) -> Iterator[_Lines]:
    """The physical lines of the input, never holding more than a line and a block of it."""
    buf = bytearray()  # whole lines not yet split, then the start of an unfinished line
    skipping = False  # inside a line longer than MAX_LINE_BYTES: drop it up to its end
    after_cr = False  # a line just ended with a CR at the end of a piece: a LF next is its own
    for data in pieces:
        piece = data
        while piece:
            if after_cr:
                after_cr = False
                if piece.startswith(b"\n"):
                    piece = piece[1:]
                    continue
            if skipping:
                end = _first_break(piece)
                if end < 0:
                    break
                skipping = False
                if piece[end : end + 1] == b"\r":
                    if end + 1 == len(piece):
                        after_cr = True
                    elif piece[end + 1 : end + 2] == b"\n":
                        end += 1
                piece = piece[end + 1 :]
                continue
            room = MAX_LINE_BYTES + 2 - len(buf)  # >= 1: an unfinished line is at most + 1
            buf += piece[:room]
            piece = piece[room:]
            if len(buf) < _BLOCK_BYTES and len(buf) <= MAX_LINE_BYTES:
                continue
            cut = _complete(buf)
            if cut:
                yield from _take(buf, cut)
            if len(buf) - buf.endswith(b"\r") > MAX_LINE_BYTES:
                # The unfinished line is too long already: one rejected row; drop the rest.
                after_cr = buf.endswith(b"\r")  # it has ended, in fact
                skipping = not after_cr
                buf.clear()
                yield None
    if buf and not skipping:
        yield from _take(buf, len(buf))


def _dirt(line: str) -> str | None:
    """Why a line of a dirty block is not text, or None when it is."""
    if _NOT_UTF8.search(line):
        try:
            line.encode("utf-8", "surrogateescape").decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"not UTF-8 text: invalid byte at offset {exc.start}"
    if "\x00" in line:
        return "contains NUL bytes"
    return None


def _looks_like(head: bytes) -> str | None:
    """What a file that is not text seems to be, from its first bytes."""
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            return what
    pairs = len(head) // 2
    if pairs >= 2 and (head[1::2] == bytes(pairs) or head[0::2] == bytes(pairs)):
        return "UTF-16 text, not UTF-8"
    return None


class _Problem(NamedTuple):
    """What is wrong with the record being read, found on physical line `line`."""

    line: int
    reason: str
    kind: Literal["binary", "long", "csv"]  # not text (not UTF-8, NUL); too long; csv's error


# --- the parser ---------------------------------------------------------------------------


@contextmanager
def _gc_paused() -> Iterator[bool]:
    """The cyclic garbage collector off for the block, then as it was; yields whether it was on.

    While a window is parsed the heap only grows (its rows, and one block's records), so the
    collections of the older generations that its allocations would trigger, each over the
    whole heap, find nothing to free; measured, they cost about as much as the rest of the
    parse. Reference counting still frees what is dropped, and when the collector was on the
    parser collects the young generation itself after each block, while it is in the cache.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield enabled
    finally:
        if enabled:
            gc.enable()


def _plain_counts(texts: tuple[str, ...]) -> list[int] | None:
    """The counts, if every one is plainly valid: ASCII digits alone, below the limit."""
    try:
        return list(map(_SMALL_COUNTS.__getitem__, texts))
    except KeyError:
        pass
    digits = "".join(texts)
    if not (digits.isdigit() and digits.isascii()):  # a sign, a space, a dot, other digits
        return None
    try:
        counts = list(map(int, texts))
    except ValueError:  # an empty count, or more digits than int() reads
        return None
    return counts if max(counts) < _COUNT_LIMIT else None


def _plain_names(texts: tuple[str, ...], max_bytes: int) -> list[str] | None:
    """The names trimmed, if none is blank or (at 4 bytes a character) too long for a key."""
    names = list(map(str.strip, texts))
    return names if all(names) and max(map(len, names)) <= max_bytes // 4 else None


def _plain_stores(texts: tuple[str, ...]) -> list[str] | None:
    """`_plain_names` for stores; one string for all when they are the same, as is usual."""
    first = texts[0]
    if texts.count(first) != len(texts):
        return _plain_names(texts, MAX_STORE_BYTES)
    store = _plain_names((first,), MAX_STORE_BYTES)
    return None if store is None else store * len(texts)


def _plain_rows(records: list[list[str]], first: int) -> tuple[list[Row], list[str], list[str]]:
    """The rows of one-line records on lines `first`, ..., if all are plainly valid; else empty.

    The same checks as the careful path, done column by column in C: three fields, names not
    blank once trimmed and short enough to be within the key sizes whatever their characters,
    counts in ASCII digits alone. One line each, so no field holds a line break. Returns the
    rows and their (trimmed) stores and items.
    """
    try:
        store_texts, item_texts, count_texts = zip(*records, strict=True)
    except ValueError:  # not three fields each
        return [], [], []
    counts = _plain_counts(count_texts)
    stores = _plain_stores(store_texts)
    items = _plain_names(item_texts, MAX_ITEM_BYTES)
    if counts is None or stores is None or items is None:
        return [], [], []
    fields = zip(stores, items, counts, range(first, first + len(counts)), strict=True)
    rows = list(map(tuple.__new__, itertools.repeat(Row), fields))
    return rows, stores, items


class InventoryStream:
    """Parse an inventory CSV from an iterable of byte chunks (e.g. StreamingBody.iter_chunks()).

    Iterating yields windows: tuple[Row, ...] of valid rows in file order, each window
    holding at most `window_rows` rows with (store, item) unique inside the window (last row
    wins; an earlier row of the same key in the same window is dropped and counted as a
    duplicate). A key seen again in a later window is not a duplicate: both rows are yielded,
    and the later one must be applied later. `window_rows=None` is one window for the file.
    Memory holds one window and about one line (MAX_LINE_BYTES), whatever the file's size.

    Attributes, final once iteration ends:
      file_error: the file as a whole is rejected (no or bad header, empty, not text); when
        set it is set before the first window would be yielded, and no window is yielded.
      errors: the first `errors_kept` rejected rows (MAX_ERRORS_KEPT; None keeps them all).
      error_count: all rejected rows.
      duplicates: rows superseded by a later row of the same key in the same window.
      superseded: each such supersession, kept only with `keep_duplicates=True`.
      rows: valid rows yielded.
    Iterate once: a second iteration goes on where the first stopped.

    How: a clean block of whole lines (UTF-8, no NUL, one kind of line break: see `_Run`) that
    starts a record is cut at its line breaks and split by a csv.reader of its own (`_block`).
    When every record in it is one line, they are taken at once: the rows are checked and built
    column by column (`_plain_rows`), or record by record if one is not plainly valid (and so
    are records before the header). Anything else (a dirty block, mixed line breaks, an
    over-long line, a record over several lines or past the block) goes the careful way: one
    csv.reader fed line by line, which notes what is wrong with each record. The cyclic garbage
    collector is paused while a window is parsed, and the young generation collected after
    each block (`_gc_paused`); it is never paused while a window is handed over.
    """

    # Clean blocks and plainly valid rows skip the careful path; tests turn it off to compare.
    _fast_path = True

    def __init__(
        self,
        chunks: Iterable[bytes],
        window_rows: int | None = WINDOW_ROWS,
        *,
        errors_kept: int | None = MAX_ERRORS_KEPT,
        keep_duplicates: bool = False,
    ) -> None:
        if window_rows is not None and window_rows < 1:
            raise ValueError(f"window_rows must be at least 1 (or None), got {window_rows}")
        self.file_error: str | None = None
        self.errors: list[RowError] = []
        self.error_count = 0
        self.duplicates = 0
        self.superseded: list[Duplicate] = []
        self.rows = 0
        self._chunks = chunks
        self._window_rows = window_rows
        self._errors_kept = errors_kept
        self._keep_duplicates = keep_duplicates
        self._head = b""
        self._header_seen = False
        self._fast = False  # the fast path for one record, taken once the header has been read
        # The window being filled: its rows while their keys are known to be unique, or, once
        # a key repeats, `_exact`, the rows by key (the last row of a key moved to the end).
        self._window: list[Row] = []
        self._keys: dict[str, set[str]] = {}  # the window's items by store
        self._exact: dict[tuple[str, str], Row] | None = None
        self._ready: list[tuple[Row, ...]] = []  # windows full, not yet yielded
        self._base = 0  # physical lines before those `_reader` reads
        self._consumed = 0  # lines `_reader` has read; the next record starts on the next
        self._problem: _Problem | None = None  # found in the record being read
        self._reader: Any = None  # the careful path's csv.reader, while it reads
        self._collect = False  # collect the young generation after each block (_gc_paused)
        self._windows = self._parse()

    @property
    def duplicate_count(self) -> int:
        """`duplicates`, under the name a receipt's parse summary uses."""
        return self.duplicates

    def __iter__(self) -> Iterator[tuple[Row, ...]]:
        return self._windows

    def _start(self) -> Iterator[bytes]:
        """The input in pieces, without its BOM; its first bytes kept in `_head`."""
        pieces = _pieces(self._chunks)
        head = b""
        for piece in pieces:
            head += piece
            if len(head) >= _HEAD_BYTES:
                break
        self._head = head[:_HEAD_BYTES]
        yield head.removeprefix(_BOM)
        yield from pieces

    # --- the window ---------------------------------------------------------------------

    def _flush(self) -> None:
        """The window is complete: ready to be yielded, and a new one begins."""
        window = tuple(self._window if self._exact is None else self._exact.values())
        self.rows += len(window)
        self._ready.append(window)
        self._window, self._keys, self._exact = [], {}, None

    def _fresh(self, stores: list[str], items: list[str]) -> bool:
        """Note these keys as in the window; False if one was already there, or repeats."""
        start = 0
        for store, run in itertools.groupby(stores):  # one run of a store, or a few
            stop = start + len(list(run))
            seen = self._keys.get(store)
            if seen is None:
                seen = self._keys[store] = set()
            known = len(seen)
            seen.update(items[start:stop])
            if len(seen) - known != stop - start:
                return False
            start = stop
        return True

    def _by_key(self) -> dict[tuple[str, str], Row]:
        """A key repeats: the window's rows by key from now on, until the window is complete."""
        exact = self._exact = {(row[0], row[1]): row for row in self._window}
        return exact

    def _supersede(self, exact: dict[tuple[str, str], Row], row: Row) -> None:
        """One row into the window by key: an earlier row of its key is dropped (last wins)."""
        key = (row[0], row[1])
        earlier = exact.pop(key, None)
        if earlier is not None:
            self.duplicates += 1
            if self._keep_duplicates:
                self.superseded.append(Duplicate(row[0], row[1], earlier[3], row[3]))
        exact[key] = row

    def _add(self, rows: list[Row], stores: list[str], items: list[str]) -> None:
        """Valid rows, in file order, with their stores and items, into the window.

        As many at a time as the window has room for: at once while no key repeats, else one
        by one by key (`_exact`, from the first repeat until the window is complete).
        """
        limit = self._window_rows
        start, end = 0, len(rows)
        while start < end:
            exact = self._exact
            size = len(self._window) if exact is None else len(exact)
            stop = end if limit is None else min(end, start + limit - size)
            part = rows[start:stop] if start or stop < end else rows
            if exact is None:
                if self._fresh(stores[start:stop], items[start:stop]):
                    self._window.extend(part)
                else:
                    exact = self._by_key()
            if exact is not None:
                keys = list(zip(stores[start:stop], items[start:stop], strict=True))
                if len(keys) > 1 and exact.keys().isdisjoint(keys) and len(set(keys)) == len(keys):
                    exact.update(zip(keys, part, strict=True))
                else:
                    for row in part:
                        self._supersede(exact, row)
            start = stop
            if (len(self._window) if exact is None else len(exact)) == limit:
                self._flush()

    def _add_one(self, row: Row) -> None:
        """One valid row into the window, as `_add` takes it, for a row found on its own."""
        exact = self._exact
        if exact is None:
            seen = self._keys.get(row[0])
            if seen is None:
                seen = self._keys[row[0]] = set()
            if row[1] not in seen:
                seen.add(row[1])
                self._window.append(row)
                if len(self._window) == self._window_rows:
                    self._flush()
                return
            exact = self._by_key()
        self._supersede(exact, row)
        if len(exact) == self._window_rows:
            self._flush()

    # --- records ------------------------------------------------------------------------

    def _reject(self, error: RowError) -> None:
        self.error_count += 1
        if self._errors_kept is None or len(self.errors) < self._errors_kept:
            self.errors.append(error)

    def _row(self, record: list[str], line: int, one_line: bool) -> Row | None:
        """The row of the record that starts on `line`, if valid; if not, it is rejected.

        None too for a blank record, and for the header (or a bad one: then `file_error`).
        """
        if self._fast and one_line and len(record) == 3:
            # A one-line record that is plainly valid. Anything this does not take (blank,
            # spaces around the count, a sign, a long name, ...) goes on to the careful checks
            # below, which decide it.
            store, item, count = record
            store, item = store.strip(), item.strip()
            if (
                store
                and item
                and count.isdigit()
                and count.isascii()
                and len(count) <= MAX_COUNT_DIGITS
                # 4 bytes per character at most: within the key sizes
                and len(store) <= MAX_STORE_BYTES // 4
                and len(item) <= MAX_ITEM_BYTES // 4
            ):
                return Row(store, item, int(count), line)
        if _is_blank(record):
            return None
        if not self._header_seen:
            if is_header(record):
                self._header_seen = True
                self._fast = self._fast_path
            else:
                shown = _show(",".join(record))
                self.file_error = f"line {line}: header must be store,item,count (got {shown})"
            return None
        parsed = parse_row(record, line)
        if isinstance(parsed, RowError):
            self._reject(parsed)
            return None
        return parsed

    def _bulk(self, run: _Lines) -> bool:
        """Take a run that starts a record in bulk (`_block`), if it is clean; False if not."""
        if run is None or run.line_break is None or not self._fast_path:
            return False
        return self._block(run.text, run.line_break)

    def _block(self, text: str, line_break: str) -> bool:
        """Parse a clean block that starts a record in bulk, if every record in it is one line.

        False (nothing taken) when a record runs over lines, or past the end of the block.
        """
        lines = text.split(line_break)
        reader = csv.reader(lines)
        try:
            records = list(reader)
        except csv.Error:  # not expected of clean lines; the careful path says why
            return False
        # One record a line, the empty string after the last line break included: an open
        # quoted field would have taken it in.
        if reader.line_num != len(records):
            return False
        if not lines[-1]:
            records.pop()
        self._records(records)
        return True

    def _records(self, records: list[list[str]]) -> None:
        """Take one-line records, the first on the line after `_base`."""
        first = self._base + 1
        self._base += len(records)
        while records and not self._header_seen:  # the records up to the header, one by one
            self._row(records.pop(0), first, True)
            if self.file_error is not None:
                return
            first += 1
        rows, stores, items = _plain_rows(records, first) if records else ([], [], [])
        if not rows:  # one is not plainly valid: record by record
            found = (self._row(record, line, True) for line, record in enumerate(records, first))
            rows = [row for row in found if row is not None]
            stores, items = [row[0] for row in rows], [row[1] for row in rows]
        if rows:
            self._add(rows, stores, items)

    # --- the careful path ----------------------------------------------------------------

    def _note(self, line: int, reason: str, kind: Literal["binary", "long"]) -> None:
        if self._problem is None:
            self._problem = _Problem(line, reason, kind)

    def _lines(self, first: _Lines, runs: Iterator[_Lines], held: list[_Lines]) -> Iterator[str]:
        """The lines `_reader` reads, from `first` on, noting what is wrong with each record.

        A line that cannot be given to csv (too long, or the record it continues has grown too
        long) is replaced: by an empty line at the start of a record, otherwise by `"` and a
        line break, which closes the open quoted field and ends the record there. At a record's
        start, a clean block is left in `held` for `_block`, and the lines end.
        """
        reader = self._reader
        base = self._base
        too_long = f"longer than {MAX_LINE_BYTES} bytes"
        start = ""  # the first line of the record being read
        size = -1  # the record's bytes so far, counted once it goes on over a second line
        for run in itertools.chain((first,), runs):
            starts = reader.line_num == self._consumed
            if run is None:
                self._note(base + reader.line_num + 1, too_long, "long")
                yield "\n" if starts else '"\n'
                continue
            text, dirty, line_break = run
            if starts and line_break is not None and self._fast_path and run is not first:
                held.append(run)
                return
            for line in _split(text):
                if reader.line_num == self._consumed:
                    start, size = line, -1
                else:  # a quoted field goes on over this line: bound the record as a whole
                    if size < 0:
                        size = _utf8_bytes(start)
                    size += _utf8_bytes(line)
                    if size - _ending(line) > MAX_LINE_BYTES:
                        self._note(base + self._consumed + 1, too_long, "long")
                        yield '"\n'
                        continue
                if dirty:
                    reason = _dirt(line)
                    if reason is not None:
                        self._note(base + reader.line_num + 1, reason, "binary")
                yield line

    def _file_problem(self, line: int, problem: _Problem) -> str:
        """Why the file is rejected when its header record, on `line`, has `problem`."""
        if problem.kind == "csv":
            return f"line {line}: {problem.reason}"
        if problem.kind == "long":
            return f"line {line}: header must be store,item,count (got a line {problem.reason})"
        found = f"line {problem.line}: {problem.reason}"
        what = _looks_like(self._head)
        if what is None:
            return f"not a text CSV file: {found}"
        return f"not a text CSV file: it looks like {what} ({found})"

    @staticmethod
    def _row_problem(line: int, problem: _Problem) -> RowError:
        """The rejection of the record on `line` that has `problem`."""
        where = "" if problem.line == line else f" (on line {problem.line})"
        return RowError(line, problem.reason + where)

    def _problem_record(self, line: int, problem: _Problem) -> bool:
        """The record on `line` has `problem`: rejected; False when that is the whole file."""
        if not self._header_seen:
            self.file_error = self._file_problem(line, problem)
            return False
        self._reject(self._row_problem(line, problem))
        return True

    def _careful(self, first: _Lines, runs: Iterator[_Lines], held: list[_Lines]) -> Iterator[None]:
        """Read records line by line from `first` on, until a clean block starts a record."""
        reader = self._reader = csv.reader(self._lines(first, runs, held))
        base = self._base
        self._consumed = 0
        while True:
            try:
                for record in reader:
                    start = self._consumed
                    self._consumed = reader.line_num
                    problem = self._problem
                    if problem is not None:
                        self._problem = None
                        if not self._problem_record(base + start + 1, problem):
                            return
                    else:
                        row = self._row(record, base + start + 1, reader.line_num == start + 1)
                        if row is not None:
                            self._add_one(row)
                        elif self.file_error is not None:
                            return
                    if self._ready:
                        yield
                break
            except csv.Error as exc:  # csv gave up on one record; it reads on from the next line
                line = base + self._consumed + 1
                self._consumed = reader.line_num
                problem, self._problem = self._problem, None
                if problem is None:  # nothing noted on its lines: csv's complaint is the reason
                    problem = _Problem(line, f"malformed CSV ({exc})", "csv")
                if not self._problem_record(line, problem):
                    return
        self._base = base + reader.line_num
        self._reader = None

    # --- the parse ------------------------------------------------------------------------

    def _steps(self) -> Iterator[None]:
        """Parse, pausing (yielding) whenever a window is ready."""
        runs = _physical_lines(self._start())
        held: list[_Lines] = []
        for next_run in runs:
            held.append(next_run)
            while held:
                run = held.pop()
                if self._bulk(run):
                    if self._collect:  # the young generation, while it is in the CPU's cache
                        gc.collect(0)
                else:
                    yield from self._careful(run, runs, held)
                if self.file_error is not None:
                    return
                if self._ready:
                    yield
        if not self._header_seen:
            self.file_error = "empty file: no header store,item,count"
            return
        if self._window or self._exact:
            self._flush()
            yield

    def _parse(self) -> Iterator[tuple[Row, ...]]:
        steps = self._steps()
        going = True
        while going:
            with _gc_paused() as self._collect:
                going = next(steps, False) is None
                windows, self._ready = self._ready, []
            yield from windows


def parse_stream(chunks: Iterable[bytes], window_rows: int | None = WINDOW_ROWS) -> InventoryStream:
    """Parse an inventory CSV read as chunks of bytes; iterate the result for its windows."""
    return InventoryStream(chunks, window_rows)


def parse_inventory(data: bytes) -> ParseResult:
    """Parse an uploaded inventory file. Never raises for any input bytes.

    The same parser as `parse_stream`, with one window for the whole file, every error kept
    and every duplicate listed.
    """
    stream = InventoryStream((data,), None, errors_kept=None, keep_duplicates=True)
    windows = list(stream)  # one at most
    rows = windows[0] if windows else ()
    if stream.file_error is not None:
        return ParseResult(rows=(), errors=(), duplicates=(), file_error=stream.file_error)
    return ParseResult(rows=rows, errors=tuple(stream.errors), duplicates=tuple(stream.superseded))
