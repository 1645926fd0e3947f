"""The inventory CSV format: what parse_inventory accepts, rejects, and where."""

from __future__ import annotations

import pytest

from inventory.csv_format import (
    MAX_COUNT_DIGITS,
    MAX_ITEM_BYTES,
    MAX_STORE_BYTES,
    Duplicate,
    ParseResult,
    Row,
    RowError,
    parse_count,
    parse_inventory,
)

pytestmark = pytest.mark.unit

HEADER = "store,item,count"


def csv_bytes(*lines: str, newline: str = "\n", bom: bool = False) -> bytes:
    """Join lines into a file; every line, the last included, ends with `newline`."""
    text = "".join(line + newline for line in lines)
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def as_tuples(result: ParseResult) -> list[tuple[str, str, int]]:
    return [(row.store, row.item, row.count) for row in result.rows]


def error_lines(result: ParseResult) -> list[int]:
    return [error.line for error in result.errors]


def assert_file_rejected(result: ParseResult, reason: str = "") -> None:
    """The file is refused as a whole, nothing of it is loaded, and the reason says `reason`."""
    assert not result.accepted
    assert result.file_error is not None
    assert reason in result.file_error
    assert result.rows == ()


# --- encodings and line endings ------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
@pytest.mark.parametrize("bom", [False, True], ids=["no-bom", "bom"])
def test_line_endings_and_bom_all_parse_the_same(newline: str, bom: bool) -> None:
    # Given a small file with a bad row in the middle
    data = csv_bytes(
        HEADER, "Berlin,Apples,5", "Berlin,Pears,x", "Paris,Figs,0", newline=newline, bom=bom
    )

    # When it is parsed
    result = parse_inventory(data)

    # Then the BOM is not part of the header, and line numbers count physical lines
    assert result.accepted
    assert as_tuples(result) == [("Berlin", "Apples", 5), ("Paris", "Figs", 0)]
    assert [row.line for row in result.rows] == [2, 4]
    assert error_lines(result) == [3]


def test_last_line_without_newline_is_read() -> None:
    result = parse_inventory(b"store,item,count\nBerlin,Apples,5")

    assert as_tuples(result) == [("Berlin", "Apples", 5)]


# First lines of a file, and whether they are the header `store,item,count`.
HEADERS = {
    "store,item,count": True,
    "STORE,ITEM,COUNT": True,
    "Store,Item,Count": True,
    " store , item ,count ": True,
    "\tStore,ITEM ,  count": True,
    "store,item": False,
    "store,item,count,extra": False,
    "item,store,count": False,
    "store;item;count": False,
    "shop,item,count": False,
    "s t o r e,item,count": False,
    "Berlin,Apples,5": False,
}


@pytest.mark.parametrize("header", [header for header, ok in HEADERS.items() if ok])
def test_header_is_matched_ignoring_case_and_surrounding_spaces(header: str) -> None:
    result = parse_inventory(csv_bytes(header, "s,i,1"))

    assert result.accepted
    assert as_tuples(result) == [("s", "i", 1)]


@pytest.mark.parametrize("header", [header for header, ok in HEADERS.items() if not ok])
def test_a_file_without_the_header_is_rejected_as_a_whole(header: str) -> None:
    # Given rows that would be valid under a proper header
    result = parse_inventory(csv_bytes(header, "Berlin,Apples,5"))

    # Then nothing is loaded and the reason names the header and its line
    assert not result.accepted
    assert result.rows == () and result.errors == ()
    assert result.file_error is not None
    assert "line 1" in result.file_error
    assert "header" in result.file_error


def test_blank_lines_before_the_header_are_skipped_and_still_counted() -> None:
    result = parse_inventory(csv_bytes("", "   ", HEADER, "s,i,1", "s,j,bad"))

    assert result.accepted
    assert [row.line for row in result.rows] == [4]
    assert error_lines(result) == [5]


@pytest.mark.parametrize(
    "data",
    [b"", b"\xef\xbb\xbf", b"\n\n\n", b"\r\n  \r\n", b" , , \n"],
    ids=["empty", "bom-only", "newlines", "spaces", "empty-fields"],
)
def test_an_empty_file_is_rejected(data: bytes) -> None:
    result = parse_inventory(data)

    assert_file_rejected(result, "empty")


def test_a_header_with_no_rows_is_accepted_and_loads_nothing() -> None:
    result = parse_inventory(csv_bytes(HEADER))

    assert result.accepted
    assert result.rows == () and result.errors == () and result.duplicates == ()


@pytest.mark.parametrize(
    ("line", "offset"),
    [
        (b"Berlin,\xff\xfe,1", 7),
        (b"M\xfcnchen,Apples,1", 1),  # Latin-1, not UTF-8
        (b"Berlin,\xed\xa0\x80,1", 7),  # an encoded surrogate
        (b"Berlin,Apples,1\xc3", 15),  # truncated multi-byte sequence
    ],
    ids=["garbage", "latin-1", "surrogate", "truncated"],
)
def test_a_line_that_is_not_utf8_is_one_rejected_row(line: bytes, offset: int) -> None:
    # Given a line that is not UTF-8 between good rows
    data = b"store,item,count\nParis,Figs,1\n" + line + b"\nRome,Olives,2"

    # When parsed
    result = parse_inventory(data)

    # Then only that line is rejected, saying where its first bad byte is
    assert result.accepted
    assert result.errors == (RowError(3, f"not UTF-8 text: invalid byte at offset {offset}"),)
    assert as_tuples(result) == [("Paris", "Figs", 1), ("Rome", "Olives", 2)]


def test_a_line_with_nul_is_one_rejected_row() -> None:
    result = parse_inventory(csv_bytes(HEADER, "Berlin,App\x00les,1", "Paris,Figs,1"))

    assert result.accepted
    assert result.errors == (RowError(2, "contains NUL bytes"),)
    assert as_tuples(result) == [("Paris", "Figs", 1)]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("store,item,count\n".encode("utf-16"), "UTF-16"),
        ("store,item,count\n".encode("utf-16-le"), "UTF-16"),
        (b"\xff\xfe", "UTF-8"),
        (b"\n\nM\xfcnchen,Apples,1\n", "line 3: not UTF-8"),
        (b"\x00\x01\x02\x03", "line 1: contains NUL bytes"),
        (b"PK\x03\x04\x00\x00binary", "ZIP archive"),
    ],
    ids=["utf-16", "utf-16-no-bom", "bom-only-utf16", "latin-1-header", "binary", "zip-like"],
)
def test_a_file_whose_header_line_is_not_text_is_rejected(data: bytes, reason: str) -> None:
    result = parse_inventory(data)

    assert_file_rejected(result, reason)
    assert (result.file_error or "").startswith("not a text CSV file: ")


# --- quoting and text ----------------------------------------------------------------------


def test_quoted_fields_may_hold_commas_quotes_and_non_ascii() -> None:
    # Given standard CSV quoting: commas inside quotes, doubled quotes, and UTF-8 text
    data = csv_bytes(
        HEADER,
        '"München, Zentrum","Äpfel ""Elstar""",5',
        '東京,"お茶, 緑",12',
        '"São Paulo",Açaí 🍇,"0"',
    )

    # When parsed
    result = parse_inventory(data)

    # Then each field is unquoted exactly once
    assert result.errors == ()
    assert as_tuples(result) == [
        ("München, Zentrum", 'Äpfel "Elstar"', 5),
        ("東京", "お茶, 緑", 12),
        ("São Paulo", "Açaí 🍇", 0),
    ]


def test_store_item_and_count_are_trimmed() -> None:
    result = parse_inventory(
        csv_bytes(HEADER, "  Berlin \t,  Apples  ,  7  ", '" Paris "," Figs ",3')
    )

    assert as_tuples(result) == [("Berlin", "Apples", 7), ("Paris", "Figs", 3)]


def test_a_quoted_field_spanning_lines_is_rejected_and_later_lines_keep_their_numbers() -> None:
    # Given an item whose quoted name holds a line break, so record 2 covers lines 2-3
    data = csv_bytes(HEADER, 'Berlin,"Apples\nRed",5', "Berlin,Pears,-1", "Berlin,Figs,2")

    # When parsed
    result = parse_inventory(data)

    # Then the multi-line record is rejected at the line it starts on,
    # and the rows after it are numbered by physical line
    assert result.errors == (
        RowError(2, "item contains a line break"),
        RowError(4, "count must be >= 0, got -1"),
    )
    assert [(row.item, row.line) for row in result.rows] == [("Figs", 5)]


@pytest.mark.parametrize("name", ['"Ber\r\nlin"', '"Ber\rlin"', '"Ber\nlin"'])
def test_store_names_with_line_breaks_are_rejected(name: str) -> None:
    result = parse_inventory(csv_bytes(HEADER, f"{name},Apples,5", "Paris,Figs,1", newline="\r\n"))

    assert result.errors == (RowError(2, "store contains a line break"),)
    assert as_tuples(result) == [("Paris", "Figs", 1)]


def test_a_field_larger_than_the_csv_default_limit_rejects_only_its_row() -> None:
    # csv's default field limit is 131,072 characters; one huge field must not cost the file.
    data = csv_bytes(HEADER, "s,i,1", '"' + "x" * 200_000 + '",i,1')

    result = parse_inventory(data)

    assert result.accepted
    assert [(r.store, r.item, r.count) for r in result.rows] == [("s", "i", 1)]
    assert [(e.line, e.reason) for e in result.errors] == [(3, "store is longer than 2048 bytes")]


# --- bad rows ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("Berlin,Apples", "expected 3 fields (store,item,count), got 2"),
        ("Berlin", "expected 3 fields (store,item,count), got 1"),
        ("Berlin,Apples,5,extra", "expected 3 fields (store,item,count), got 4"),
        ("Berlin,Apples,5,", "expected 3 fields (store,item,count), got 4"),
        (",Apples,5", "store is empty"),
        ("   ,Apples,5", "store is empty"),
        ('"",Apples,5', "store is empty"),
        ("Berlin,,5", "item is empty"),
        ("Berlin, ,5", "item is empty"),
        ("Berlin,Apples,-1", "count must be >= 0, got -1"),
        ("Berlin,Apples,-12", "count must be >= 0, got -12"),
        ("Berlin,Apples,5.0", "count must be a whole number, got '5.0'"),
        ("Berlin,Apples,abc", "count must be a whole number, got 'abc'"),
        ("Berlin,Apples,1e3", "count must be a whole number, got '1e3'"),
        ("Berlin,Apples,1 000", "count must be a whole number, got '1 000'"),
        ("Berlin,Apples,0x10", "count must be a whole number, got '0x10'"),
        ("Berlin,Apples,١٢", "count must be a whole number, got '١٢'"),  # Arabic-Indic digits
        ("Berlin,Apples,--1", "count must be a whole number, got '--1'"),
        ("Berlin,Apples,", "count is empty"),
        ("Berlin,Apples,   ", "count is empty"),
    ],
)
def test_a_bad_row_is_rejected_with_its_line_and_reason_and_good_rows_still_load(
    row: str, reason: str
) -> None:
    # Given a bad row between two good ones
    data = csv_bytes(HEADER, "Paris,Figs,1", row, "Rome,Olives,2")

    # When parsed
    result = parse_inventory(data)

    # Then only the bad row is rejected, with line 3 and a readable reason
    assert result.accepted
    assert result.errors == (RowError(3, reason),)
    assert as_tuples(result) == [("Paris", "Figs", 1), ("Rome", "Olives", 2)]


def test_line_numbers_count_blank_lines_between_rows() -> None:
    data = csv_bytes(HEADER, "", "a,b,1", "", "", "a,c,x", "  ", "a,d,-3")

    result = parse_inventory(data)

    assert error_lines(result) == [6, 8]
    assert [row.line for row in result.rows] == [3]


def test_over_long_keys_are_rejected_by_utf8_byte_length() -> None:
    # Given names exactly at DynamoDB's key limits, and one byte over (ü is 2 bytes in UTF-8)
    store_at_limit = "s" * MAX_STORE_BYTES
    item_at_limit = "ü" * (MAX_ITEM_BYTES // 2)
    data = csv_bytes(
        HEADER,
        f"{store_at_limit},i,1",
        f"s,{item_at_limit},2",
        f"{'s' * (MAX_STORE_BYTES + 1)},i,3",
        f"s,{'ü' * (MAX_ITEM_BYTES // 2)}x,4",
    )

    result = parse_inventory(data)

    assert as_tuples(result) == [(store_at_limit, "i", 1), ("s", item_at_limit, 2)]
    assert result.errors == (
        RowError(4, f"store is longer than {MAX_STORE_BYTES} bytes"),
        RowError(5, f"item is longer than {MAX_ITEM_BYTES} bytes"),
    )


def test_huge_counts_up_to_dynamodb_precision_are_exact() -> None:
    biggest = "9" * MAX_COUNT_DIGITS
    data = csv_bytes(
        HEADER,
        f"s,a,{biggest}",
        f"s,b,{'0' * 100}{biggest}",  # leading zeros do not count as digits
        f"s,c,1{'0' * MAX_COUNT_DIGITS}",  # 39 digits
    )

    result = parse_inventory(data)

    assert as_tuples(result) == [("s", "a", int(biggest)), ("s", "b", int(biggest))]
    assert result.errors == (RowError(4, f"count has more than {MAX_COUNT_DIGITS} digits"),)


def test_thousands_of_leading_zeros_do_not_make_the_parser_raise() -> None:
    # int() refuses strings longer than 4,300 digits; the parser must never raise.
    data = csv_bytes(HEADER, f"s,a,{'0' * 5000}7", f"s,b,-{'0' * 5000}", f"s,c,{'1' * 5000}")

    result = parse_inventory(data)

    assert as_tuples(result) == [("s", "a", 7), ("s", "b", 0)]
    assert error_lines(result) == [4]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("007", 7),
        ("+5", 5),
        ("-0", 0),
        (" 42 ", 42),
        ("-1", "count must be >= 0, got -1"),
        ("", "count is empty"),
        ("5.0", "count must be a whole number, got '5.0'"),
    ],
)
def test_parse_count(text: str, expected: int | str) -> None:
    assert parse_count(text) == expected


def test_a_long_bad_count_is_shown_shortened() -> None:
    reason = parse_count("x" * 500)

    assert isinstance(reason, str)
    assert len(reason) < 100
    assert reason.endswith("…'")


# --- duplicates ----------------------------------------------------------------------------


def test_duplicates_last_row_wins_and_both_lines_are_reported() -> None:
    # Given (Berlin, Apples) on lines 2 and 4, and (Paris, Figs) three times
    data = csv_bytes(
        HEADER,
        "Berlin,Apples,5",
        "Paris,Figs,1",
        "Berlin,Apples,0",
        "Paris,Figs,2",
        "Paris,Figs,3",
    )

    # When parsed
    result = parse_inventory(data)

    # Then one row per key remains, holding the last value, and every supersession is reported
    assert sorted(as_tuples(result)) == [("Berlin", "Apples", 0), ("Paris", "Figs", 3)]
    assert {row.key: row.line for row in result.rows} == {
        ("Berlin", "Apples"): 4,
        ("Paris", "Figs"): 6,
    }
    assert result.duplicates == (
        Duplicate("Berlin", "Apples", superseded_line=2, line=4),
        Duplicate("Paris", "Figs", superseded_line=3, line=5),
        Duplicate("Paris", "Figs", superseded_line=5, line=6),
    )


def test_duplicates_are_detected_after_trimming() -> None:
    result = parse_inventory(csv_bytes(HEADER, "Berlin,Apples,5", " Berlin , Apples ,6"))

    assert as_tuples(result) == [("Berlin", "Apples", 6)]
    assert result.duplicates == (Duplicate("Berlin", "Apples", 2, 3),)


def test_keys_are_case_sensitive() -> None:
    result = parse_inventory(csv_bytes(HEADER, "Berlin,Apples,5", "berlin,apples,6"))

    assert len(result.rows) == 2
    assert result.duplicates == ()


def test_a_rejected_row_does_not_override_an_earlier_good_one() -> None:
    result = parse_inventory(csv_bytes(HEADER, "Berlin,Apples,5", "Berlin,Apples,-1"))

    assert as_tuples(result) == [("Berlin", "Apples", 5)]
    assert result.duplicates == ()
    assert error_lines(result) == [3]


# --- scale ---------------------------------------------------------------------------------


def test_a_20000_row_file_parses_completely() -> None:
    # Given 20,000 distinct rows, every 1,000th of them bad
    lines = [HEADER]
    for n in range(20_000):
        count = "bad" if n % 1000 == 999 else str(n)
        lines.append(f"Store {n % 50},Item {n},{count}")
    data = csv_bytes(*lines, newline="\r\n")

    # When parsed
    result = parse_inventory(data)

    # Then every good row is there with its own line number, and the bad ones are reported
    assert len(result.rows) == 19_980
    assert len(result.errors) == 20
    assert error_lines(result) == [n + 2 for n in range(999, 20_000, 1000)]
    assert result.rows[-1] == Row("Store 48", "Item 19998", 19_998, line=20_000)
    assert all(row.line == row.count + 2 for row in result.rows)
