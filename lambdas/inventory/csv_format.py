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
import io
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, NamedTuple

HEADER = ("store", "item", "count")
MAX_STORE_BYTES = 2048  # DynamoDB partition key limit
MAX_ITEM_BYTES = 1024  # DynamoDB sort key limit
MAX_COUNT_DIGITS = 38  # DynamoDB number precision
MAX_ERRORS_KEPT = 20  # a receipt keeps the first errors; the count covers all of them
WINDOW_ROWS = 10_000  # valid rows deduplicated together (last row wins) before they are yielded
MAX_LINE_BYTES = 1 << 20  # a longer line (or quoted record) is one rejected row, never held whole
_DIGITS = re.compile(r"[0-9]+")
_SIGNED_INTEGER = re.compile(r"[+-][0-9]+")
# Records are at most MAX_LINE_BYTES, but csv counts a field's characters against a limit of
# its own (128 Ki by default), over which it raises. Raise it so that a long field is one row
# rejected as too long for a key. (Process-wide, and only ever raised: 2**31 - 1 fits a C long.)
csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))

_BLOCK_BYTES = 1 << 16  # bytes decoded and split into lines at a time (tests lower it)
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


@dataclass(frozen=True, slots=True)  # slots: a large file makes millions of them
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

# What `_physical_lines` yields: a run of complete lines (text with their endings) and whether
# any of them may be dirty (bytes that are not UTF-8, as lone surrogates, or NUL); or None for
# one line longer than MAX_LINE_BYTES, which is dropped as it is read.
_Lines = tuple[Iterable[str], bool] | None


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


def _take(buf: bytearray, cut: int) -> Iterator[_Lines]:
    """Decode and split the first `cut` bytes of buf (whole lines), and drop them from buf."""
    with memoryview(buf) as view, view[:cut] as block:
        try:
            text, dirty = str(block, "utf-8"), False
        except UnicodeDecodeError:
            text, dirty = str(block, "utf-8", "surrogateescape"), True
    del buf[:cut]
    dirty = dirty or "\x00" in text
    # Split exactly where csv expects lines to end: CR, LF or CRLF, and nowhere else.
    lines = io.StringIO(text, newline="")
    if cut <= MAX_LINE_BYTES:
        yield lines, dirty
        return
    run: list[str] = []
    for line in lines:
        if _utf8_bytes(line) - _ending(line) > MAX_LINE_BYTES:
            if run:
                yield run, dirty
                run = []
            yield None
        else:
            run.append(line)
    if run:
        yield run, dirty


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
    """

    # Plainly valid one-line rows skip the careful checks; tests turn it off to compare.
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
        self._consumed = 0  # physical lines csv has read; the next record starts on the next
        self._problem: _Problem | None = None  # found in the record being read
        self._reader = csv.reader(self._lines())
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

    def _note(self, line: int, reason: str, kind: Literal["binary", "long"]) -> None:
        if self._problem is None:
            self._problem = _Problem(line, reason, kind)

    def _lines(self) -> Iterator[str]:
        """The lines csv reads, noting what is wrong with the record they belong to.

        A line that cannot be given to csv (too long, or the record it continues has grown too
        long) is replaced: by an empty line at the start of a record, otherwise by `"` and a
        line break, which closes the open quoted field and ends the record there.
        """
        reader = self._reader
        too_long = f"longer than {MAX_LINE_BYTES} bytes"
        first = ""  # the first line of the record being read
        size = -1  # the record's bytes so far, counted once it goes on over a second line
        for run in _physical_lines(self._start()):
            if run is None:
                starts = reader.line_num == self._consumed
                self._note(reader.line_num + 1, too_long, "long")
                yield "\n" if starts else '"\n'
                continue
            lines, dirty = run
            for line in lines:
                if reader.line_num == self._consumed:
                    first, size = line, -1
                else:  # a quoted field goes on over this line: bound the record as a whole
                    if size < 0:
                        size = _utf8_bytes(first)
                    size += _utf8_bytes(line)
                    if size - _ending(line) > MAX_LINE_BYTES:
                        self._note(self._consumed + 1, too_long, "long")
                        yield '"\n'
                        continue
                if dirty:
                    reason = _dirt(line)
                    if reason is not None:
                        self._note(reader.line_num + 1, reason, "binary")
                yield line

    def _reject(self, error: RowError) -> None:
        self.error_count += 1
        if self._errors_kept is None or len(self.errors) < self._errors_kept:
            self.errors.append(error)

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

    def _supersede(self, window: dict[tuple[str, str], Row], row: Row) -> None:
        """`row` repeats a key of the window: the earlier row is dropped, the last one wins."""
        earlier = window.pop(row.key)
        self.duplicates += 1
        if self._keep_duplicates:
            self.superseded.append(Duplicate(row.store, row.item, earlier.line, row.line))
        window[row.key] = row

    def _parse(self) -> Iterator[tuple[Row, ...]]:
        reader = self._reader
        limit = self._window_rows
        window: dict[tuple[str, str], Row] = {}
        header_seen = False
        fast = False  # the fast path is taken once the header has been read
        while True:
            try:
                for record in reader:
                    line = self._consumed + 1
                    self._consumed = reader.line_num
                    problem = self._problem
                    if problem is not None:
                        self._problem = None
                        if not header_seen:
                            self.file_error = self._file_problem(line, problem)
                            return
                        self._reject(self._row_problem(line, problem))
                        continue
                    if fast and len(record) == 3 and reader.line_num == line:
                        # The fast path: a one-line record that is plainly valid. Anything it
                        # does not take (blank, spaces around the count, a sign, a long name,
                        # ...) goes on to the careful checks below, which decide it.
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
                            row = Row(store, item, int(count), line)
                            if window.setdefault((store, item), row) is not row:
                                self._supersede(window, row)
                            elif limit is not None and len(window) >= limit:
                                self.rows += len(window)
                                yield tuple(window.values())
                                window = {}
                            continue
                    if _is_blank(record):
                        continue
                    if not header_seen:
                        if not is_header(record):
                            shown = _show(",".join(record))
                            self.file_error = (
                                f"line {line}: header must be store,item,count (got {shown})"
                            )
                            return
                        header_seen = True
                        fast = self._fast_path
                        continue
                    parsed = parse_row(record, line)
                    if isinstance(parsed, RowError):
                        self._reject(parsed)
                        continue
                    if parsed.key in window:
                        self._supersede(window, parsed)
                    else:
                        window[parsed.key] = parsed
                    if limit is not None and len(window) >= limit:
                        self.rows += len(window)
                        yield tuple(window.values())
                        window = {}
                break
            except csv.Error as exc:  # csv gave up on one record; it reads on from the next line
                line = self._consumed + 1
                self._consumed = reader.line_num
                problem, self._problem = self._problem, None
                if problem is None:  # nothing noted on its lines: csv's complaint is the reason
                    problem = _Problem(line, f"malformed CSV ({exc})", "csv")
                if not header_seen:
                    self.file_error = self._file_problem(line, problem)
                    return
                self._reject(self._row_problem(line, problem))
        if not header_seen:
            self.file_error = "empty file: no header store,item,count"
            return
        if window:
            self.rows += len(window)
            yield tuple(window.values())


def parse_stream(chunks: Iterable[bytes], window_rows: int | None = WINDOW_ROWS) -> InventoryStream:
    """Parse an inventory CSV read as chunks of bytes; iterate the result for its windows."""
    return InventoryStream(chunks, window_rows)


def parse_inventory(data: bytes) -> ParseResult:
    """Parse an uploaded inventory file. Never raises for any input bytes.

    The same parser as `parse_stream`, with one window for the whole file, every error kept
    and every duplicate listed.
    """
    stream = InventoryStream((data,), None, errors_kept=None, keep_duplicates=True)
    rows = tuple(itertools.chain.from_iterable(stream))
    if stream.file_error is not None:
        return ParseResult(rows=(), errors=(), duplicates=(), file_error=stream.file_error)
    return ParseResult(rows=rows, errors=tuple(stream.errors), duplicates=tuple(stream.superseded))
