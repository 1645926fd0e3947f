"""The parser's fast path for plainly valid rows finds exactly what the careful path finds.

`InventoryStream` takes a one-line, plainly valid record through a few cheap checks; any
other record goes through the careful checks. `Careful` below turns the fast path off, so
every test compares the two on the same bytes, cut into the same chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inventory import csv_format
from inventory.csv_format import MAX_LINE_BYTES, InventoryStream, Row, RowError

pytestmark = pytest.mark.unit

HEADER = b"store,item,count\n"
TOO_LONG = f"longer than {MAX_LINE_BYTES} bytes"


class Careful(InventoryStream):
    """The parser with every record going through the careful checks."""

    _fast_path = False


# Everything a parse finds: windows, errors, counts, supersessions and the file's rejection.
Found = tuple[
    list[tuple[Row, ...]], list[RowError], int, int, list[csv_format.Duplicate], int, str | None
]


def found(kind: type[InventoryStream], chunks: list[bytes], window_rows: int | None) -> Found:
    stream = kind(chunks, window_rows, errors_kept=None, keep_duplicates=True)
    windows = list(stream)
    return (
        windows,
        stream.errors,
        stream.error_count,
        stream.duplicates,
        stream.superseded,
        stream.rows,
        stream.file_error,
    )


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def both(chunks: list[bytes], window_rows: int | None = None) -> Found:
    """What the parser finds, after checking that both paths find the same."""
    fast = found(InventoryStream, chunks, window_rows)
    assert fast == found(Careful, chunks, window_rows)
    return fast


def rows_and_errors(data: bytes, chunk: int = 7) -> tuple[list[Row], list[tuple[int, str]]]:
    windows, errors, *_ = both(list(pieces(data, chunk)))
    return [row for window in windows for row in window], [(e.line, e.reason) for e in errors]


def test_a_bad_byte_in_the_middle_of_a_clean_chunk_rejects_only_its_line() -> None:
    data = HEADER + b"s,a,1\ns,b,2\ns,\xffc,3\ns,d,4\ns,e,5\n"
    rows, errors = rows_and_errors(data, chunk=1 << 16)
    assert [row.item for row in rows] == ["a", "b", "d", "e"]
    assert [row.line for row in rows] == [2, 3, 5, 6]
    assert errors == [(4, "not UTF-8 text: invalid byte at offset 2")]


def test_a_nul_rejects_only_its_line() -> None:
    rows, errors = rows_and_errors(HEADER + b"s,a,1\ns,b\x00,2\ns,c,3\n")
    assert [row.item for row in rows] == ["a", "c"]
    assert errors == [(3, "contains NUL bytes")]


def test_a_quoted_field_spanning_lines_is_not_taken_by_the_fast_path() -> None:
    data = HEADER + b's,"a\nb",1\ns,"x, ""y""",2\ns,c,"3\n"\ns,d,4\n'
    rows, errors = rows_and_errors(data)
    # A count is trimmed like a name, line break included; only names may not hold one.
    assert [(row.item, row.count, row.line) for row in rows] == [
        ('x, "y"', 2, 4), ("c", 3, 5), ("d", 4, 7),
    ]  # fmt: skip
    assert errors == [(2, "item contains a line break")]


@pytest.mark.parametrize("cut", range(1, 30))
def test_crlf_split_across_chunks(cut: int) -> None:
    data = HEADER.replace(b"\n", b"\r\n") + b"s,a,1\r\ns,b,2\r\n\r\ns,c,3\r\n"
    windows, errors, *_ = both([data[:cut], data[cut:]])
    assert [(row.item, row.line) for row in windows[0]] == [("a", 2), ("b", 3), ("c", 5)]
    assert errors == []


def test_a_bom_and_cr_line_endings() -> None:
    rows, errors = rows_and_errors(b"\xef\xbb\xbfStore, Item ,COUNT\rs,a,1\rs,b,2\r")
    assert [(row.item, row.line) for row in rows] == [("a", 2), ("b", 3)]
    assert errors == []


def test_an_over_long_line_is_one_rejected_row() -> None:
    data = HEADER + b"s,a,1\n" + b"s," + b"x" * MAX_LINE_BYTES + b",2\ns,b,3\n"
    rows, errors = rows_and_errors(data, chunk=1 << 16)
    assert [(row.item, row.line) for row in rows] == [("a", 2), ("b", 4)]
    assert errors == [(3, TOO_LONG)]


def test_rows_the_fast_path_leaves_to_the_careful_checks() -> None:
    long_store = "é" * 1025  # 1,025 characters, 2,050 bytes: over the store's 2,048
    text = (
        " s , a ,1\n"  # trimmed names
        "s,b, 7 \n"  # spaces around the count
        "s,c,+5\ns,d,-0\ns,e,-1\ns,f,5.0\ns,g,٣\n"  # sign, non-ASCII digit
        f"{long_store},h,1\ns,{'i' * 300},1\n"  # long, and fine: 300 bytes
        f"s,j,{'0' * 40}9\ns,k,{'9' * 39}\n"  # leading zeros, too many digits
        ",,\n  \ns,,1\n,l,1\ns,m\n"  # blank, empty names, two fields
    )
    rows, errors = rows_and_errors(HEADER + text.encode())
    assert [(row.item, row.count) for row in rows] == [
        ("a", 1), ("b", 7), ("c", 5), ("d", 0), ("i" * 300, 1), ("j", 9),
    ]  # fmt: skip
    assert [line for line, _ in errors] == [6, 7, 8, 9, 12, 15, 16, 17]


def test_duplicates_last_wins_across_and_within_windows() -> None:
    data = HEADER + b"s,a,1\ns,b,2\ns,a,3\ns,c,4\ns,a,5\ns,b,6\n"
    windows, _, _, duplicates, superseded, *_ = both(list(pieces(data, 5)), window_rows=3)
    assert [[(row.item, row.count) for row in window] for window in windows] == [
        [("b", 2), ("a", 3), ("c", 4)], [("a", 5), ("b", 6)],
    ]  # fmt: skip
    assert duplicates == 1
    assert [(d.item, d.superseded_line, d.line) for d in superseded] == [("a", 2, 4)]


# --- generated files: both paths find the same ------------------------------------------------

_NAMES = st.sampled_from(["s", "a b", " pad ", "", "x,y", 'q"t', "é", "\u3000w", "n\nl", "c\rr"])
_COUNTS = st.sampled_from(["0", "7", "007", " 3", "+2", "-0", "-1", "1.5", "", "٣", "x", "9" * 39])
_JUNK = st.sampled_from(
    [b"", b",,", b"  ", b'"', b'a,"b', b'",1', b"s,\xff,1", b"s,\x00,1", b"\xef\xbb\xbf", b"s,t"]
)


def _field(text: str, quoted: bool) -> str:
    if quoted or any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


@st.composite
def _line(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 5)) == 0:
        return draw(_JUNK)
    store, item, count = draw(_NAMES), draw(_NAMES), draw(_COUNTS)
    quote = draw(st.booleans())
    return ",".join((_field(store, quote), _field(item, False), _field(count, False))).encode()


@st.composite
def _files(draw: st.DrawFn) -> bytes:
    ending = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    header = draw(st.sampled_from([b"store,item,count", b"\xef\xbb\xbfSTORE, item,count", b"x"]))
    lines = draw(st.lists(_line(), max_size=25))
    data = ending.join([header, *lines])
    return data + draw(st.sampled_from([b"", ending]))


@settings(max_examples=300, deadline=None)
@given(
    data=_files(),
    chunk=st.integers(1, 64),
    block=st.integers(1, 48),
    window_rows=st.one_of(st.none(), st.integers(1, 4)),
)
def test_fast_and_careful_paths_find_the_same(
    data: bytes, chunk: int, block: int, window_rows: int | None
) -> None:
    with mock.patch.object(csv_format, "_BLOCK_BYTES", block):
        both(list(pieces(data, chunk)), window_rows)
