"""parse_stream: the inventory CSV read as chunks of bytes, its rows yielded window by window."""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator

import pytest

from inventory import csv_format
from inventory.csv_format import (
    MAX_ERRORS_KEPT,
    MAX_LINE_BYTES,
    WINDOW_ROWS,
    InventoryStream,
    Row,
    RowError,
    parse_inventory,
    parse_stream,
)

pytestmark = pytest.mark.unit

HEADER = b"store,item,count"
TOO_LONG = f"longer than {MAX_LINE_BYTES} bytes"


def lines(*rows: bytes, newline: bytes = b"\n") -> bytes:
    """The file of these lines, each ending with `newline`."""
    return b"".join(row + newline for row in rows)


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    """data in chunks of `size` bytes, as StreamingBody.iter_chunks gives them."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def read_all(stream: InventoryStream) -> list[tuple[Row, ...]]:
    windows = list(stream)
    assert stream.rows == sum(len(window) for window in windows)
    return windows


# What a parse found: rows, errors (the first MAX_ERRORS_KEPT), file error, counts.
Outcome = tuple[tuple[Row, ...], tuple[RowError, ...], str | None, int, int]


def streamed(chunks: list[bytes]) -> Outcome:
    """What parse_stream finds in one window: its rows, errors, file error and counts."""
    stream = parse_stream(chunks, window_rows=None)
    rows = tuple(row for window in read_all(stream) for row in window)
    return rows, tuple(stream.errors), stream.file_error, stream.error_count, stream.duplicates


def parsed(data: bytes) -> Outcome:
    """The same from parse_inventory."""
    result = parse_inventory(data)
    errors = result.errors
    return (
        result.rows,
        errors[:MAX_ERRORS_KEPT],
        result.file_error,
        len(errors),
        len(result.duplicates),
    )


# --- windows -----------------------------------------------------------------------------


def test_windows_are_bounded_and_the_last_row_of_a_key_wins_inside_each() -> None:
    # Given rows where a key comes back within a window of 3 rows, and in the next window
    data = lines(HEADER, b"s,a,1", b"s,b,2", b"s,a,3", b"s,c,4", b"s,d,5", b"s,a,6", b"s,d,7")

    # When it is streamed in windows of at most 3 rows
    stream = parse_stream([data], window_rows=3)
    windows = read_all(stream)

    # Then each window holds unique keys, the later row of a key in it having won,
    # and a key repeated in a later window is yielded again there, not counted as a duplicate
    assert [[(row.item, row.count, row.line) for row in window] for window in windows] == [
        [("b", 2, 3), ("a", 3, 4), ("c", 4, 5)],
        [("a", 6, 7), ("d", 7, 8)],
    ]
    assert stream.duplicates == 2  # s,a,1 (line 2) and s,d,5 (line 6)
    assert stream.duplicate_count == 2
    assert stream.rows == 5
    assert stream.error_count == 0 and stream.errors == [] and stream.file_error is None


def test_the_default_window_holds_at_most_window_rows() -> None:
    data = HEADER + b"\n" + b"".join(b"s,item %d,1\n" % n for n in range(2 * WINDOW_ROWS + 5))

    windows = read_all(parse_stream(pieces(data, 1024)))

    assert [len(window) for window in windows] == [WINDOW_ROWS, WINDOW_ROWS, 5]
    assert [row.line for window in windows for row in window] == list(range(2, 2 * WINDOW_ROWS + 7))


def test_applying_the_windows_in_order_gives_what_parse_inventory_gives() -> None:
    data = HEADER + b"\n" + b"".join(b"s,item %d,%d\n" % (n % 7, n) for n in range(50))

    stream = parse_stream([data], window_rows=4)
    applied = {row.key: row for window in read_all(stream) for row in window}

    result = parse_inventory(data)
    assert applied == {row.key: row for row in result.rows}
    assert stream.rows + stream.duplicates == len(result.rows) + len(result.duplicates)


def test_a_window_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="window_rows"):
        parse_stream([b""], window_rows=0)


def test_errors_keep_the_first_ones_and_count_them_all() -> None:
    data = lines(HEADER, *(b"s,i,bad" for _ in range(MAX_ERRORS_KEPT + 5)), b"s,i,1")

    stream = parse_stream(pieces(data, 7))
    windows = read_all(stream)

    assert stream.error_count == MAX_ERRORS_KEPT + 5
    assert [error.line for error in stream.errors] == list(range(2, MAX_ERRORS_KEPT + 2))
    assert [[row.line for row in window] for window in windows] == [[MAX_ERRORS_KEPT + 7]]


def test_receipts_and_the_parser_share_max_errors_kept() -> None:
    from inventory import receipts

    assert receipts.MAX_ERRORS_KEPT is csv_format.MAX_ERRORS_KEPT


# --- chunk boundaries ----------------------------------------------------------------------

# A small file with most of what the parser handles: a BOM, CRLF and CR endings, a quoted field
# over three lines, blank lines, a duplicate, bad rows, a line that is not UTF-8, NUL, a BOM
# that is not at the start, and a last line without a line ending.
MESSY = (
    b"\xef\xbb\xbf\r\n"
    b"Store, Item ,COUNT\r\n"
    b"Berlin,Apples,5\r\n"
    b'"Berlin","Pears\r\nWilliams",3\r\n'
    b'Berlin,"Figs",",\n\r7"\n'
    b"Paris,Figs,1\r"
    b"\r\n"
    b"M\xfcnchen,Apples,1\n"
    b"Rome,Ol\x00ives,2\n"
    b"\xef\xbb\xbfRome,Olives,2\r"
    b'"Wien","Kaffee ""Melange""",04\r\n'
    b"Berlin,Apples,6\n"
    b"Paris,Kiwi,-1\r\n"
    b"Paris,Kiwi,9"
)


def test_the_messy_file_reads_as_intended() -> None:
    result = parse_inventory(MESSY)

    assert [(r.store, r.item, r.count, r.line) for r in result.rows] == [
        ("Paris", "Figs", 1, 9),
        ("\ufeffRome", "Olives", 2, 13),
        ("Wien", 'Kaffee "Melange"', 4, 14),
        ("Berlin", "Apples", 6, 15),
        ("Paris", "Kiwi", 9, 17),
    ]
    assert result.errors == (
        RowError(4, "item contains a line break"),
        RowError(6, "count must be a whole number, got ',\\n\\r7'"),
        RowError(11, "not UTF-8 text: invalid byte at offset 1"),
        RowError(12, "contains NUL bytes"),
        RowError(16, "count must be >= 0, got -1"),
    )
    assert [(d.superseded_line, d.line) for d in result.duplicates] == [(3, 15)]


@pytest.mark.parametrize("block", [1, 2, 3, 5, 16, 1 << 16], ids=lambda b: f"block-{b}")
def test_a_split_at_any_byte_gives_the_same_result(
    monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    # Given the parser decoding a few bytes at a time (so every boundary of its own is hit)
    monkeypatch.setattr(csv_format, "_BLOCK_BYTES", block)
    expected = parsed(MESSY)

    # When the file arrives in two chunks split at any byte, or byte by byte
    # Then it reads exactly as in one piece
    for cut in range(len(MESSY) + 1):
        assert streamed([MESSY[:cut], MESSY[cut:]]) == expected, f"split at byte {cut}"
    assert streamed(list(pieces(MESSY, 1))) == expected


@pytest.mark.parametrize("max_line", [16, 17, 25], ids=lambda n: f"max-line-{n}")
@pytest.mark.parametrize("block", [1, 3, 8, 1 << 16], ids=lambda b: f"block-{b}")
def test_over_long_lines_are_cut_the_same_at_any_split(
    monkeypatch: pytest.MonkeyPatch, block: int, max_line: int
) -> None:
    # Given line and block limits so small that this file has lines, and a quoted record
    # running over lines, longer than the limit
    monkeypatch.setattr(csv_format, "_BLOCK_BYTES", block)
    monkeypatch.setattr(csv_format, "MAX_LINE_BYTES", max_line)
    data = lines(
        HEADER,
        b"a,b,1",
        b"x" * 40,
        b'a,"b\r\nc",2',
        b'a,"' + b"y" * 12 + b"\r" + b"y" * 12 + b'",3',
        b"c,d,4",
        b"e,f," * 9,
        b"g,h,5",
    )
    data += b"x" * (max_line + 1) + b"\r"  # an over-long last line, ended by a CR
    expected = parsed(data)

    # When split at any byte, the over-long lines are rejected the same way
    for cut in range(len(data) + 1):
        assert streamed([data[:cut], data[cut:]]) == expected, f"split at byte {cut}"
    assert f"longer than {max_line} bytes" in {error.reason for error in expected[1]}
    assert [row.store for row in expected[0]][-1] == "g"


# --- encodings and line endings ------------------------------------------------------------


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_bom_and_line_endings_byte_by_byte(newline: bytes) -> None:
    # Given a file with a BOM and one line ending throughout, fed one byte at a time
    data = b"\xef\xbb\xbf" + lines(
        HEADER, b"Berlin,Apples,5", b"", b"Paris,Figs,x", newline=newline
    )

    rows, errors, file_error, _, _ = streamed(list(pieces(data, 1)))

    # Then the BOM is not part of the header, and lines are counted across the split endings
    assert file_error is None
    assert [(row.item, row.line) for row in rows] == [("Apples", 2)]
    assert errors == (RowError(4, "count must be a whole number, got 'x'"),)


def test_a_quoted_field_over_lines_keeps_the_line_numbers() -> None:
    # Given a count whose quoted text spans lines 2-3, and a store with a line break on 4-6
    data = lines(HEADER, b'Berlin,Apples,"5', b'"', b'"Ber', b"", b'lin",Pears,1', b"Rome,Figs,2")

    rows, errors, _, _, _ = streamed(list(pieces(data, 3)))

    # Then each record is numbered by the line it starts on
    assert [(row.item, row.count, row.line) for row in rows] == [("Apples", 5, 2), ("Figs", 2, 7)]
    assert errors == (RowError(4, "store contains a line break"),)


# --- files that are not text ---------------------------------------------------------------


def test_a_png_is_rejected_as_a_whole() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(range(256)) * 40

    stream = parse_stream(pieces(png, 1024))

    assert read_all(stream) == []
    assert stream.file_error == (
        "not a text CSV file: it looks like a PNG image "
        "(line 1: not UTF-8 text: invalid byte at offset 0)"
    )
    assert stream.errors == [] and stream.error_count == 0 and stream.rows == 0


def test_a_gzip_file_is_rejected_as_a_whole() -> None:
    data = gzip.compress(lines(HEADER, *(b"Berlin,Item %d,1" % n for n in range(2000))))

    stream = parse_stream(pieces(data, 1024))

    assert read_all(stream) == []
    assert stream.file_error is not None
    assert stream.file_error.startswith("not a text CSV file: it looks like a gzip-compressed")
    assert stream.errors == [] and stream.error_count == 0


def test_a_line_that_is_not_utf8_mid_file_is_rejected_alone() -> None:
    # Given good rows, then a Latin-1 line, then good rows again
    good = [b"Berlin,Item %d,1" % n for n in range(100)]
    data = lines(HEADER, *good[:50], b"M\xfcnchen,\xc4pfel,3", *good[50:])

    stream = parse_stream(pieces(data, 64), window_rows=30)
    rows = [row for window in read_all(stream) for row in window]

    # Then that line is one rejected row, and every good row around it loads
    assert stream.file_error is None
    assert stream.errors == [RowError(52, "not UTF-8 text: invalid byte at offset 1")]
    assert len(rows) == 100
    assert [row.line for row in rows] == [*range(2, 52), *range(53, 103)]


def test_bad_bytes_inside_a_quoted_field_reject_its_record_and_name_their_line() -> None:
    data = lines(HEADER, b'Berlin,"Apples', b"\xff", b'",1', b"Paris,Figs,2")

    result = parse_inventory(data)

    assert result.errors == (RowError(2, "not UTF-8 text: invalid byte at offset 0 (on line 3)"),)
    assert [(row.item, row.line) for row in result.rows] == [("Figs", 5)]


def test_nul_mid_file_rejects_only_its_line() -> None:
    data = lines(HEADER, b"Berlin,Apples,1", b"Berlin,Pe\x00ars,2", b"\x00", b"Berlin,Figs,3")

    rows, errors, _, error_count, _ = streamed(list(pieces(data, 5)))

    assert errors == (RowError(3, "contains NUL bytes"), RowError(4, "contains NUL bytes"))
    assert error_count == 2
    assert [row.item for row in rows] == ["Apples", "Figs"]


def test_utf16_without_a_bom_is_rejected_as_a_whole() -> None:
    stream = parse_stream(["store,item,count\nBerlin,Apples,1\n".encode("utf-16-le")])

    assert read_all(stream) == []
    assert stream.file_error == (
        "not a text CSV file: it looks like UTF-16 text, not UTF-8 (line 1: contains NUL bytes)"
    )


# --- hostile sizes -------------------------------------------------------------------------


def test_a_3_mb_line_is_one_rejected_row() -> None:
    # Given a 3 MB line between good rows, as S3 would stream it
    data = lines(
        HEADER, b"Berlin,Apples,1", b"Berlin," + b"x" * (3 << 20) + b",1", b"Berlin,Figs,2"
    )

    stream = parse_stream(pieces(data, 64 * 1024))
    rows = [row for window in read_all(stream) for row in window]

    # Then it is rejected as too long, and the rows around it load with their line numbers
    assert stream.errors == [RowError(3, TOO_LONG)]
    assert [(row.item, row.line) for row in rows] == [("Apples", 2), ("Figs", 4)]


def test_a_3_mb_line_in_one_chunk_reads_the_same() -> None:
    data = lines(HEADER, b"a,b,1", b'"' + b"x\xc3\xa9" * (1 << 20), b"c,d,2", newline=b"\r")

    stream = parse_stream([data])
    rows = [row for window in read_all(stream) for row in window]

    assert stream.errors == [RowError(3, TOO_LONG)]
    assert [(row.store, row.line) for row in rows] == [("a", 2), ("c", 4)]


def test_an_over_long_first_line_rejects_the_file_as_having_no_header() -> None:
    stream = parse_stream(pieces(b"x" * (MAX_LINE_BYTES + 1) + b"\n" + HEADER + b"\n", 4096))

    assert read_all(stream) == []
    assert stream.file_error == (f"line 1: header must be store,item,count (got a line {TOO_LONG})")


def test_a_quoted_field_that_never_closes_is_cut_at_max_line_bytes() -> None:
    # Given a quote opened on line 2 and never closed, then 40,000 short lines and a row
    filler = b"x" * 30
    data = lines(HEADER, b'Berlin,"Apples', *([filler] * 40_000), b"Paris,Figs,1")

    stream = parse_stream(pieces(data, 64 * 1024))
    rows = [row for window in read_all(stream) for row in window]

    # Then the record from line 2 is rejected once it passes MAX_LINE_BYTES; the parser reads
    # on from the next line, so the row at the end still loads on its own line
    assert stream.errors[0] == RowError(2, TOO_LONG)
    # The record is measured without its last line break: 15 + 31 * k - 1 bytes after line 2
    # (15 bytes with its line break) and k filler lines (31 each). The filler that takes it
    # over the limit is dropped with it; the lines after it are read as records again.
    cut = 2 + (MAX_LINE_BYTES - 14) // 31 + 1
    assert stream.error_count == 1 + (40_002 - cut)
    assert stream.errors[1] == RowError(cut + 1, "expected 3 fields (store,item,count), got 1")
    assert [(row.item, row.line) for row in rows] == [("Figs", 40_003)]


def test_a_row_of_200000_fields_is_one_rejected_row() -> None:
    data = lines(HEADER, b"Berlin,Apples,1", b"x," * 199_999 + b"x", b"Berlin,Figs,2")

    stream = parse_stream(pieces(data, 1024))
    rows = [row for window in read_all(stream) for row in window]

    assert stream.errors == [RowError(3, "expected 3 fields (store,item,count), got 200000")]
    assert [row.item for row in rows] == ["Apples", "Figs"]


def test_a_csv_error_rejects_one_record_and_parsing_goes_on() -> None:
    # Given csv's field size limit lowered by someone else in the process
    previous = csv.field_size_limit(10)
    try:
        data = lines(HEADER, b"a,b,1", b"a," + b"y" * 20 + b",2", b"c,d,3")
        header_too_big = parse_inventory(lines(b"store" + b" " * 20 + b",item,count", b"a,b,1"))
        result = parse_inventory(data)
    finally:
        csv.field_size_limit(previous)

    # Then the record csv refuses is one rejected row, and the next line is read as usual
    assert result.errors == (RowError(3, "malformed CSV (field larger than field limit (10))"),)
    assert [row.line for row in result.rows] == [2, 4]
    assert header_too_big.file_error == "line 1: malformed CSV (field larger than field limit (10))"
