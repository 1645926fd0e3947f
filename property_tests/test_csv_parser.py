"""Properties of the CSV parser (`inventory.csv_format`: parse_inventory and parse_stream).

Decisions these properties hold the parser to (README, "CSV rules"):
- Store and item are trimmed of surrounding whitespace, as Python's `str.strip` defines it
  (so a no-break space or an ideographic space around a name goes too). What is left must
  not be empty.
- A store or item containing a line break (CR or LF, which only a quoted field can hold) is
  REJECTED as a row, reported on the line where its record starts; its neighbours still
  load. Other Unicode separators (U+0085, U+2028, ...) are ordinary characters of a name.
- A record whose fields are all blank (an empty line, spaces, or `,,`) counts as a blank
  line and is skipped without an error.
- Each physical line is decoded on its own. A line that is not UTF-8 or holds a NUL is one
  rejected row, unless it is the header line: then the file is not text (an image, an
  archive, UTF-16) and is rejected as a whole, like a file without a valid header or an
  empty one. These are the only ways a whole file is refused; any other bad record is a
  rejected row.
- parse_stream is the same parser fed in chunks: with one unbounded window it finds exactly
  what parse_inventory finds, wherever the chunks are cut; with small windows, applying the
  windows in order leaves what parse_inventory leaves.

The model below (`model_row`) restates the row rules independently of the parser.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from unittest import mock

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from inventory import csv_format
from inventory.csv_format import (
    MAX_ERRORS_KEPT,
    Duplicate,
    InventoryStream,
    ParseResult,
    Row,
    parse_inventory,
    parse_stream,
)
from property_tests.csv_text import (
    Layout,
    Line,
    Raw,
    Record,
    blanks,
    layouts,
    raw_lines,
    render,
)

pytestmark = pytest.mark.property

BLANK = "blank"
_COUNT = re.compile(r"([+-]?)([0-9]+)")  # ASCII digits only, unlike \d
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
CSV_FIELD_LIMIT = 131_072  # the csv module's default field size limit, in characters

# --- the model ------------------------------------------------------------------------------


def model_row(fields: Sequence[str]) -> tuple[str, str, int] | str | None:
    """What the contract says a record is: BLANK, a valid (store, item, count), or None."""
    if all(not f.strip() for f in fields):
        return BLANK
    if len(fields) != 3:
        return None
    store, item, count_text = (f.strip() for f in fields)
    for name, limit in ((store, csv_format.MAX_STORE_BYTES), (item, csv_format.MAX_ITEM_BYTES)):
        if not name or "\r" in name or "\n" in name or len(name.encode("utf-8")) > limit:
            return None
    match = _COUNT.fullmatch(count_text)
    if not match:
        return None
    sign, digits = match.groups()
    significant = digits.lstrip("0")
    if len(significant) > csv_format.MAX_COUNT_DIGITS or (sign == "-" and significant):
        return None
    return store, item, int(significant or "0")


@dataclass(frozen=True)
class Expected:
    rows: tuple[Row, ...]
    error_lines: tuple[int, ...]
    duplicates: tuple[Duplicate, ...]


def expected(lines: Sequence[Line], starts: Sequence[int]) -> Expected:
    """The parse the contract calls for: valid rows (last wins), rejected lines, duplicates."""
    records = [line for line in lines if isinstance(line, Record | Raw)]
    latest: dict[tuple[str, str], Row] = {}
    errors: list[int] = []
    duplicates: list[Duplicate] = []
    for record, line in zip(records, starts, strict=True):
        if isinstance(record, Raw):  # not text: rejected on its own line
            errors.append(line)
            continue
        verdict = model_row(record.fields)
        if verdict == BLANK:
            continue
        if not isinstance(verdict, tuple):
            errors.append(line)
            continue
        row = Row(*verdict, line=line)
        earlier = latest.pop(row.key, None)
        if earlier is not None:
            duplicates.append(Duplicate(row.store, row.item, earlier.line, line))
        latest[row.key] = row
    return Expected(tuple(latest.values()), tuple(errors), tuple(duplicates))


def assert_parses_as(result: ParseResult, want: Expected) -> None:
    assert result.file_error is None
    assert [e.line for e in result.errors] == list(want.error_lines)
    assert all(e.reason for e in result.errors)
    assert result.rows == want.rows
    assert result.duplicates == want.duplicates


def physical_lines(data: bytes) -> int:
    text = data.decode("utf-8-sig", errors="replace")
    return len(_LINE_BREAK.findall(text)) + 1


def assert_well_formed(result: ParseResult, data: bytes) -> None:
    """Either the documented rejection of the whole file, or rows and errors that make sense."""
    assert isinstance(result, ParseResult)
    if result.file_error is not None:
        assert result.file_error.strip()
        assert result.rows == result.errors == result.duplicates == ()
        return
    last = physical_lines(data)
    for row in result.rows:
        assert model_row([row.store, row.item, str(row.count)]) == (row.store, row.item, row.count)
        assert 1 < row.line <= last  # line 1 at the earliest is the header
    assert len({row.key for row in result.rows}) == len(result.rows)
    error_lines = [e.line for e in result.errors]
    assert error_lines == sorted(set(error_lines))
    assert all(1 < line <= last for line in error_lines)
    assert all(e.reason.strip() for e in result.errors)
    assert not {row.line for row in result.rows} & set(error_lines)


# --- strategies -----------------------------------------------------------------------------

NAME_CHARS = st.one_of(
    st.characters(codec="utf-8", exclude_characters="\r\n\x00"),
    st.sampled_from(list(",\"' ;\t|éß漢字😀\u00a0\u2028\u0085\u3000")),
)
# Surrounding whitespace is trimmed by the contract, so generated names are already trimmed.
names = st.text(NAME_CHARS, min_size=1, max_size=12).map(str.strip).filter(bool)
# Whitespace a writer may leave around a name; the parser trims it.
padding = st.text(st.sampled_from(" \t\u00a0\u3000"), max_size=2)


def at_limit(max_bytes: int) -> st.SearchStrategy[str]:
    """A name of as many 1-4 byte characters as fit in max_bytes."""
    return st.sampled_from(["a", "é", "漢", "😀"]).map(
        lambda c: c * (max_bytes // len(c.encode("utf-8")))
    )


counts = st.one_of(st.integers(0, 20), st.integers(0, 10**csv_format.MAX_COUNT_DIGITS - 1))


@st.composite
def count_texts(draw: st.DrawFn) -> tuple[int, str]:
    """A count >= 0 and one way the contract lets a file write it."""
    value = draw(counts)
    form = draw(st.sampled_from(["plain", "zeros", "plus", "padded", "minus zero"]))
    if form == "zeros":
        text = "0" * draw(st.integers(1, 5000)) + str(value)  # int() alone refuses 4,301 digits
    elif form == "plus":
        text = f"+{value}"
    elif form == "padded":
        text = draw(padding) + str(value) + draw(padding)
    elif form == "minus zero":
        value, text = 0, "-0"
    else:
        text = str(value)
    return value, text


@st.composite
def valid_documents(draw: st.DrawFn) -> list[Line]:
    """Valid rows (keys drawn from small pools, so duplicates happen) between blank lines."""
    stores = draw(st.lists(names | at_limit(csv_format.MAX_STORE_BYTES), min_size=1, max_size=3))
    items = draw(st.lists(names | at_limit(csv_format.MAX_ITEM_BYTES), min_size=1, max_size=5))
    lines: list[Line] = []
    for _ in range(draw(st.integers(0, 25))):
        if draw(st.integers(0, 5)) == 0:
            lines.append(draw(blanks))
        store, item = draw(st.sampled_from(stores)), draw(st.sampled_from(items))
        _, count = draw(count_texts())
        fields = (
            draw(padding) + store + draw(padding),
            draw(padding) + item + draw(padding),
            count,
        )
        lines.append(Record(fields))
    return lines


# Any character a field can hold (NUL makes a line not text: see raw_lines).
FIELD_CHARS = st.one_of(
    st.characters(codec="utf-8", exclude_characters="\x00"),
    st.sampled_from(list(',"\r\n -+0123456789 ')),
)
# Records the contract rejects, each for one documented reason.
invalid_records = st.one_of(
    st.tuples(names, names, st.integers(1, 10**6).map(lambda n: f"-{n}")),
    st.tuples(names, names, st.sampled_from(["3.5", "1e3", "lots", "٣", "", "5 pcs", "+-1"])),
    st.tuples(
        names, names, st.integers(csv_format.MAX_COUNT_DIGITS + 1, 60).map(lambda n: "9" * n)
    ),
    st.tuples(padding, names, st.just("1")),
    st.tuples(names, padding, st.just("1")),
    st.tuples(names, names),
    st.tuples(names, names, st.just("1"), st.just("note")),
    st.tuples(at_limit(csv_format.MAX_STORE_BYTES).map(lambda s: s + "x"), names, st.just("1")),
    st.tuples(names, at_limit(csv_format.MAX_ITEM_BYTES).map(lambda s: s + "x"), st.just("1")),
    # A name far over any limit, up to beyond the csv module's own field size limit.
    st.tuples(
        names,
        st.builds(lambda c, n: c * n, st.sampled_from("xé"), st.integers(1025, 200_000)),
        st.just("1"),
    ),
).map(Record)


@st.composite
def broken_names(draw: st.DrawFn) -> str:
    """A name with a line break inside (only a quoted field can carry one)."""
    before, after = draw(names), draw(names)
    return before + draw(st.sampled_from(["\n", "\r\n", "\r", "\n\n"])) + after


# --- round trip -----------------------------------------------------------------------------


@given(lines=valid_documents(), layout=layouts)
def test_valid_rows_read_back_exactly_in_every_serialization(
    lines: list[Line], layout: Layout
) -> None:
    # Given valid rows written with any BOM, line ending, quoting, header case and blank lines
    data, starts = render(lines, layout)

    # When the file is parsed
    result = parse_inventory(data)

    # Then it reads back as exactly those rows (trimmed; last wins), with their line numbers
    want = expected(lines, starts)
    assert_parses_as(result, want)
    assert result.errors == ()


# --- robustness -----------------------------------------------------------------------------


@given(
    head=st.sampled_from([b"", b"store,item,count\n", b"\xef\xbb\xbfSTORE,item,count\r\n"]),
    tail=st.binary(max_size=2000),
)
def test_arbitrary_bytes_never_raise(head: bytes, tail: bytes) -> None:
    data = head + tail
    assert_well_formed(parse_inventory(data), data)


@given(
    head=st.sampled_from(["", "store,item,count\n", "\ufeffStore, Item ,COUNT\r\n"]),
    text=st.text(
        st.characters(codec="utf-8") | st.sampled_from(list(',"\r\n -0123456789')), max_size=400
    ),
)
def test_arbitrary_text_never_raises(head: str, text: str) -> None:
    data = (head + text).encode("utf-8")
    assert_well_formed(parse_inventory(data), data)


any_record = st.one_of(
    st.lists(st.text(FIELD_CHARS, max_size=8), max_size=5).map(lambda f: Record(tuple(f))),
    invalid_records,
    st.tuples(padding, padding, padding).map(Record),  # `,,` and friends: blank
    blanks,
    raw_lines,
)


@st.composite
def mixed_documents(draw: st.DrawFn) -> list[Line]:
    """Valid rows with any records around them: arbitrary fields, invalid rows, blanks."""
    valid = draw(valid_documents())
    lines: list[Line] = []
    for line in valid:
        lines.extend(draw(st.lists(any_record, max_size=2)))
        lines.append(line)
    lines.extend(draw(st.lists(any_record, max_size=2)))
    return lines


@given(lines=mixed_documents(), layout=layouts)
# Bug 1: a field over csv's 131,072-character limit rejected the whole file ("malformed CSV"),
# dropping every valid row in it; now it is one row rejected as too long.
@example(
    lines=[Record(("Berlin", "Apples", "3")), Record(("Berlin", "x" * (CSV_FIELD_LIMIT + 1), "1"))],
    layout=Layout(),
)
def test_every_record_is_loaded_or_rejected_on_its_own_line(
    lines: list[Line], layout: Layout
) -> None:
    # Given valid rows among arbitrary and invalid records, in any serialization
    data, starts = render(lines, layout)

    # When the file is parsed
    result = parse_inventory(data)

    # Then each invalid record is reported on the line it starts on, and no valid row is lost
    assert_parses_as(result, expected(lines, starts))


@given(
    before=valid_documents(),
    broken=st.lists(
        st.tuples(st.booleans(), broken_names(), names, st.integers(0, 99)), min_size=1
    ),
    after=valid_documents(),
    layout=layouts,
)
def test_a_name_with_a_line_break_is_rejected_on_its_line_and_neighbours_load(
    before: list[Line],
    broken: list[tuple[bool, str, str, int]],
    after: list[Line],
    layout: Layout,
) -> None:
    # Given rows whose store or item holds a line break, between valid rows
    records: list[Line] = [
        Record((bad, good, str(n)) if in_store else (good, bad, str(n)))
        for in_store, bad, good, n in broken
    ]
    lines = before + records + after
    data, starts = render(lines, layout)

    # When the file is parsed
    result = parse_inventory(data)

    # Then each such row is rejected on the line its record starts, saying why
    want = expected(lines, starts)
    assert_parses_as(result, want)
    first_broken = len([line for line in before if isinstance(line, Record)])
    broken_lines = starts[first_broken : first_broken + len(records)]
    reasons = {e.line: e.reason for e in result.errors}
    assert all("line break" in reasons[line] for line in broken_lines)


not_header = st.lists(st.text(FIELD_CHARS, max_size=8), min_size=1, max_size=4).filter(
    lambda f: (
        tuple(x.strip().lower() for x in f) != ("store", "item", "count")
        and any(x.strip() for x in f)
    )
)


@given(first=not_header, lines=valid_documents(), layout=layouts)
def test_a_file_whose_first_record_is_not_the_header_is_rejected_whole(
    first: list[str], lines: list[Line], layout: Layout
) -> None:
    # Given valid rows under a first record that is not `store,item,count`
    data, _ = render(lines, replace(layout, header=tuple(first)))

    # When the file is parsed
    result = parse_inventory(data)

    # Then the whole file is rejected, and nothing in it is loaded
    assert result.file_error is not None
    assert "header must be store,item,count" in result.file_error
    assert result.rows == result.errors == result.duplicates == ()


# --- streaming ------------------------------------------------------------------------------

cut_points = st.lists(st.integers(0, 10**6), max_size=8)
# The parser's own limits, lowered so that small files reach its block boundaries and its
# over-long lines (None keeps the real limit).
block_sizes = st.sampled_from([1, 2, 3, 7, 64, 4096, csv_format._BLOCK_BYTES])
line_limits = st.none() | st.integers(8, 80)


def split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """data in chunks, cut at the given offsets (modulo its length); empty chunks included."""
    points = sorted(cut % (len(data) + 1) for cut in cuts)
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@contextmanager
def parser_limits(block: int, max_line: int | None, size: int) -> Iterator[None]:
    """The parser with these limits (a block of at least size/256, to stay quick)."""
    with (
        mock.patch.object(csv_format, "_BLOCK_BYTES", max(block, size // 256)),
        mock.patch.object(csv_format, "MAX_LINE_BYTES", max_line or csv_format.MAX_LINE_BYTES),
    ):
        yield


def assert_streams_as_parsed(stream: InventoryStream, result: ParseResult) -> None:
    """One unbounded window finds exactly what parse_inventory finds."""
    windows = list(stream)
    assert len(windows) <= 1
    assert tuple(row for window in windows for row in window) == result.rows
    assert stream.file_error == result.file_error
    assert stream.errors == list(result.errors[:MAX_ERRORS_KEPT])
    assert stream.error_count == len(result.errors)
    assert stream.duplicates == len(result.duplicates)
    assert stream.rows == len(result.rows)


@given(
    lines=mixed_documents(),
    layout=layouts,
    cuts=cut_points,
    block=block_sizes,
    max_line=line_limits,
)
def test_a_stream_in_any_chunks_finds_what_parse_inventory_finds(
    lines: list[Line], layout: Layout, cuts: list[int], block: int, max_line: int | None
) -> None:
    # Given any file, cut into chunks anywhere
    data, _ = render(lines, layout)

    # When it is streamed with one unbounded window, and parsed whole
    with parser_limits(block, max_line, len(data)):
        result = parse_inventory(data)
        stream = parse_stream(split(data, cuts), window_rows=None)

        # Then both find the same rows, errors and duplicates
        assert_streams_as_parsed(stream, result)


@given(
    head=st.sampled_from([b"", b"store,item,count\n", b"\xef\xbb\xbfSTORE,item,count\r\n"]),
    tail=st.binary(max_size=2000),
    cuts=cut_points,
    block=block_sizes,
    max_line=line_limits,
)
def test_arbitrary_bytes_in_any_chunks_stream_as_they_parse(
    head: bytes, tail: bytes, cuts: list[int], block: int, max_line: int | None
) -> None:
    data = head + tail
    with parser_limits(block, max_line, len(data)):
        result = parse_inventory(data)
        assert_streams_as_parsed(parse_stream(split(data, cuts), window_rows=None), result)


@given(lines=mixed_documents(), layout=layouts, cuts=cut_points, window=st.integers(1, 5))
def test_small_windows_hold_unique_keys_and_apply_as_the_whole_file(
    lines: list[Line], layout: Layout, cuts: list[int], window: int
) -> None:
    # Given any file, cut into chunks anywhere
    data, _ = render(lines, layout)

    # When it is streamed in windows of a few rows
    stream = parse_stream(split(data, cuts), window_rows=window)
    windows = list(stream)

    # Then every window is small and holds each key once, in file order
    assert all(1 <= len(rows) <= window for rows in windows)
    assert all(len({row.key for row in rows}) == len(rows) for rows in windows)
    line_order = [row.line for rows in windows for row in rows]
    assert line_order == sorted(set(line_order))
    # and the windows applied in order leave what the whole file leaves
    result = parse_inventory(data)
    assert {row.key: row for rows in windows for row in rows} == {
        row.key: row for row in result.rows
    }
    assert stream.rows + stream.duplicates == len(result.rows) + len(result.duplicates)
    assert stream.error_count == len(result.errors)
    assert stream.errors == list(result.errors[:MAX_ERRORS_KEPT])
    assert stream.file_error == result.file_error
