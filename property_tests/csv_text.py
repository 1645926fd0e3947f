"""Writing inventory CSV text in every form the contract allows, independently of `csv`.

The writer follows RFC 4180 by hand (quote a field holding a comma, a quote or a line break;
double the quotes inside), so the parser is not checked against the library it is built on.
It also knows the physical line each record starts on, which is what errors must report.
Besides text it can write `Raw` lines: bytes that are not text (not UTF-8, or NUL).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from hypothesis import strategies as st

BOM = "\ufeff"
NEWLINES = ("\n", "\r\n", "\r")  # LF and CRLF are the contract; the parser also takes CR
QUOTINGS = ("minimal", "all", "nonnumeric", "mixed")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_NUMERIC = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class Record:
    """One CSV record: its fields as they should read back (before any trimming)."""

    fields: tuple[str, ...]


@dataclass(frozen=True)
class Blank:
    """A blank line: nothing, or only spaces and tabs."""

    text: str = ""


@dataclass(frozen=True)
class Raw:
    """A physical line of bytes that is not text: not UTF-8, or holding NUL.

    It holds no line break and no quote, so it is one record, on one line, by itself.
    """

    data: bytes


Line = Record | Blank | Raw


@dataclass(frozen=True)
class Layout:
    """How a file is serialized: everything the CSV contract leaves to the writer."""

    bom: bool = False
    newline: str = "\n"
    quoting: str = "minimal"
    header: tuple[str, ...] = ("store", "item", "count")
    before_header: tuple[Blank, ...] = ()
    trailing_newline: bool = True
    extra_quotes: tuple[bool, ...] = field(default=(False,))  # per field, cyclic ("mixed")


def needs_quotes(text: str) -> bool:
    return any(c in text for c in ',"\r\n')


def write_record(fields: Sequence[str], layout: Layout, position: int = 0) -> str:
    """One record and its line ending. `position` picks the "mixed" quoting decisions."""
    if len(fields) == 1 and not fields[0]:
        return '""' + layout.newline  # unquoted, a lone empty field would be a blank line
    out = []
    for i, text in enumerate(fields):
        if layout.quoting == "all":
            quote = True
        elif layout.quoting == "nonnumeric":
            quote = not _NUMERIC.fullmatch(text)
        elif layout.quoting == "mixed":
            extra = layout.extra_quotes[(position + i) % len(layout.extra_quotes)]
            quote = extra or needs_quotes(text)
        else:
            quote = False
        quote = quote or needs_quotes(text)
        out.append('"' + text.replace('"', '""') + '"' if quote else text)
    return ",".join(out) + layout.newline


def render(lines: Sequence[Line], layout: Layout) -> tuple[bytes, list[int]]:
    """The file's bytes, and the physical line (1-based) each Record or Raw line starts on."""
    chunks: list[str] = [blank.text + layout.newline for blank in layout.before_header]
    chunks.append(write_record(layout.header, layout))
    number = 1 + sum(len(_LINE_BREAK.findall(chunk)) for chunk in chunks)
    out = [(BOM if layout.bom else "").encode("utf-8")]
    out.extend(chunk.encode("utf-8") for chunk in chunks)
    starts: list[int] = []
    for position, line in enumerate(lines):
        if isinstance(line, Raw):
            starts.append(number)
            out.append(line.data + layout.newline.encode("utf-8"))
            number += 1
            continue
        if isinstance(line, Blank):
            chunk = line.text + layout.newline
        else:
            starts.append(number)
            chunk = write_record(line.fields, layout, position)
        out.append(chunk.encode("utf-8"))
        number += len(_LINE_BREAK.findall(chunk))
    data = b"".join(out)
    if not layout.trailing_newline:
        data = data.removesuffix(layout.newline.encode("utf-8"))
    return data, starts


# --- strategies -----------------------------------------------------------------------------

blanks = st.builds(Blank, st.text(st.sampled_from(" \t"), max_size=3))


def is_text(data: bytes) -> bool:
    try:
        return "\x00" not in data.decode("utf-8")
    except UnicodeDecodeError:
        return False


# Bytes that are not text around ones that may be: what a bad export or a stray binary leaves.
_NOT_TEXT = [b"\x00", b"\xff", b"\xc3", b"\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82"]
raw_lines = (
    st.tuples(st.binary(max_size=6), st.sampled_from(_NOT_TEXT), st.binary(max_size=6))
    .map(lambda parts: b"".join(parts).translate(None, b'\r\n"'))
    .filter(lambda data: not is_text(data))
    .map(Raw)
)


@st.composite
def header_words(draw: st.DrawFn) -> tuple[str, str, str]:
    """`store,item,count` in any case, with spaces or tabs around each word."""
    words = []
    for word in ("store", "item", "count"):
        flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
        cased = "".join(c.upper() if up else c for c, up in zip(word, flips, strict=True))
        pad = st.text(st.sampled_from(" \t"), max_size=2)
        words.append(draw(pad) + cased + draw(pad))
    return (words[0], words[1], words[2])


layouts = st.builds(
    Layout,
    bom=st.booleans(),
    newline=st.sampled_from(NEWLINES),
    quoting=st.sampled_from(QUOTINGS),
    header=header_words(),
    before_header=st.lists(blanks, max_size=2).map(tuple),
    trailing_newline=st.booleans(),
    extra_quotes=st.lists(st.booleans(), min_size=1, max_size=7).map(tuple),
)
