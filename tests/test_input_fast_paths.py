"""The loader's fast paths give exactly what the plain paths beside them give.

Each fast path here exists only for speed (reading a UTF-8 CSV through an incremental decoder,
splitting its text with ``str.splitlines``, parsing columns a chunk of rows at a time, trying
the usual cell tags first when scanning a worksheet), so each is checked against the plain
way of doing the same thing, on input made to hit the cases where the two could part.
"""

from __future__ import annotations

import csv
import io
import random
import re
import zlib
from pathlib import Path

import pytest

from segsync.config import InputSettings
from segsync.errors import UnsupportedFileError
from segsync.input import columns, delimited, xlsx_scan
from segsync.input.headers import map_columns
from segsync.input.loader import load_edits
from segsync.input.rows import build_edit_set
from segsync.input.sniff import FileInfo, FileKind
from segsync.input.table import Table

SETTINGS = InputSettings()

#: Every character ``str.splitlines`` ends a line at, and quotes and delimiters around them.
_LINE_PIECES = ["a", ",", '"', "\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"]
_LINE_PIECES += ["\x85", "\u2028", "\u2029", " ", "é"]


def _csv(lines: object) -> tuple[str, object, int]:
    reader = csv.reader(lines, strict=True)  # type: ignore[arg-type]
    try:
        return "rows", list(reader), reader.line_num
    except csv.Error as exc:
        return "error", str(exc), reader.line_num


def test_csv_lines_are_stringio_lines() -> None:
    rng = random.Random(3)
    for _ in range(20_000):
        text = "".join(rng.choice(_LINE_PIECES) for _ in range(rng.randrange(12)))
        assert list(delimited.csv_lines(text)) == list(io.StringIO(text, newline=""))
        assert _csv(delimited.csv_lines(text)) == _csv(io.StringIO(text, newline=""))


def _decoded_rows(data: bytes, path: Path) -> object:
    """What the plain path (the whole file decoded first) makes of ``data``."""
    info = FileInfo(path, path.name, FileKind.TEXT, len(data), "", (), path.name)
    try:
        return delimited._decoded_rows(data, ",", info, [])
    except UnsupportedFileError as exc:
        return str(exc)


@pytest.mark.parametrize(
    "data",
    [
        b'id,name\r\n1,caf\xc3\xa9\r\n2,"a\r\nb"\r\n',
        b"\xef\xbb\xbfid;name\n1;x\n",
        b'id,name\n1,="00123"\n',
        b"id,name\n1,a\x0cb\n2,c\xe2\x80\xa8d\n",
        b"",
    ],
)
def test_utf8_rows_are_the_decoded_rows(data: bytes, tmp_path: Path) -> None:
    assert delimited.utf8_rows(data, ",") == _decoded_rows(data, tmp_path / "e.csv")


@pytest.mark.parametrize(
    "data",
    [
        b"sep=;\nid;name\n1;x\n",  # the sep= line: the plain path reads it
        b"id,name\n1,caf\xe9\n",  # not UTF-8: Windows-1252
        b'id,name\n1,"open\n' + b"2,caf\xe9\n",  # a CSV error before the bytes that are not UTF-8
        "id,name\n1,x\n".encode("utf-16"),
    ],
)
def test_utf8_rows_leaves_the_rest_to_the_plain_path(data: bytes) -> None:
    assert delimited.utf8_rows(data, ",") is None


def test_csv_error_before_bad_bytes_is_worded_as_before(tmp_path: Path) -> None:
    """Read as Windows-1252 (the bytes are not UTF-8), the error names the line it always did."""
    path = tmp_path / "e.csv"
    path.write_bytes(b'id,name\n1,"x"y\n2,caf\xe9\n')
    with pytest.raises(UnsupportedFileError, match=r"not valid CSV near line 2: "):
        load_edits(path, SETTINGS)


def _table(rows: list[list[object]], *, untyped: bool) -> Table:
    header = ["id", "campaignId", "name", "code", "description", "externalIdentifier"]
    return Table("t", "t", "t", 1, header, rows, 2, untyped=untyped)


_CELLS: list[object] = ["", " ", " 12 ", "12", "007", "12.0", "abc", "#CLEAR", "#clear", "é"]
_CELLS += ["e\u0301", "a\tb", "a\nb", "\x01", "-5", "0", 12, 12.0, 12.5, None, True, "x" * 40]


@pytest.mark.parametrize("untyped", [True, False])
def test_parse_rows_is_parse_column_per_column(untyped: bool) -> None:
    """Chunk by chunk, ragged rows included, every column parses as it does on its own."""
    rng = random.Random(5)
    cells = [c for c in _CELLS if isinstance(c, str)] if untyped else _CELLS
    rows: list[list[object]] = []
    for k in range(3 * columns.CHUNK + 17):
        odd = rng.random() < 0.002  # most chunks take the fast path, a few do not
        row = [rng.choice(cells) if odd else f"{k + 1}" for _ in range(6)]
        if rng.random() < 0.001:
            row = row[: rng.randrange(6)]  # a short row: its missing cells are empty
        rows.append(row)
    table = _table(rows, untyped=untyped)
    plan = map_columns(table, SETTINGS.clear_marker).plan
    rules = [(j, rule) for j, _, _, rule in plan]
    for (j, rule), parsed in zip(rules, columns.parse_rows(rules, rows, text=untyped), strict=True):
        alone = columns.parse_column(rule, columns.column_of(rows, j), text=untyped)
        assert (parsed.values, parsed.keep, parsed.plain) == (alone.values, alone.keep, alone.plain)
        assert {i: (e.message, e.held) for i, e in parsed.errors.items()} == {
            i: (e.message, e.held) for i, e in alone.errors.items()
        }


_TAG_PIECES = [b"<c", b' r="', b"A", b"B", b"AA", b"1", b"99999", b"100000", b'"', b' s="', b"3"]
_TAG_PIECES += [b"123456", b' t="', b"s", b"str", b"inlineStr", b"e", b"n", b"><v>", b"><is>"]
_TAG_PIECES += [b"></c>", b"/>", b"<f>", b"<v>", b" ", b"\t", b' cm="1"', b">", b"<", b"<x:c"]
_USUAL = [
    b'<c r="A1"><v>1</v></c>',
    b'<c r="B2" t="s"><v>3</v></c>',
    b'<c r="A3" t="inlineStr"><is><t>x</t></is></c>',
    b'<c r="B9" s="2"><v>1</v></c>',
    b'<c r="A9" s="2" t="s"><v>1</v></c>',
    b'<c r="B4" s="2" t="inlineStr"><is>',
    b'<c r="A1" s="1" t="s" s="2"><v>',
    b'<c r="A1" t="e"><v>#N/A</v></c>',
    b'<c r="A1"/><f>',
]


def test_odd_cells_tries_the_usual_forms_first_without_changing_what_is_plain() -> None:
    """The usual forms are cases of the general one: the search finds the same first cell."""
    letters = frozenset({b"A", b"B", b"AA"})
    ref = rb' r="(?:' + b"|".join(sorted(letters)) + rb')[0-9]{1,5}+"'
    general = re.compile(rb"<c(?!" + ref + xlsx_scan._PLAIN_TAIL + rb"|[^\s>/])")
    fast = xlsx_scan._odd_cells(letters)
    rng = random.Random(7)
    for _ in range(50_000):
        parts = [
            rng.choice(_USUAL) if rng.random() < 0.3 else rng.choice(_TAG_PIECES)
            for _ in range(rng.randrange(1, 10))
        ]
        data = b"".join(parts)
        found, expected = fast.search(data), general.search(data)
        assert (found and found.start()) == (expected and expected.start()), data


def test_build_lets_go_of_the_rows() -> None:
    """The edits are made after the table has dropped its rows (see rows._build_rows)."""
    rows: list[list[object]] = [["1", "5", "a"], ["", "", ""], ["2", "5", "b"]]
    table = Table("t", "t", "t", 1, ["id", "campaignId", "name"], rows, 2, untyped=True)
    edits = build_edit_set(table, SETTINGS)
    assert table.rows == ()
    assert [(r.source_row, r.segment_id, r.values) for r in edits.rows] == [
        (2, 1, {"campaignId": 5, "name": "a"}),
        (4, 2, {"campaignId": 5, "name": "b"}),
    ]


def _outcome(path: Path) -> tuple[str, object]:
    """What loading ``path`` gives: its rows and warnings, or the refusal's type and text."""
    try:
        edits = load_edits(path, SETTINGS)
    except Exception as exc:  # the refusal is the result being compared
        return type(exc).__name__, str(exc)
    return "edits", ([(r.source_row, r.values, r.errors) for r in edits.rows], edits.warnings)


_ZIPPED = sorted(
    p for p in (Path(__file__).parent / "data").iterdir() if p.suffix in (".xlsx", ".xlsm", ".ods")
)


@pytest.mark.parametrize("path", _ZIPPED, ids=lambda p: p.name)
def test_isal_and_zlib_inflate_to_the_same_verdict(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The zip guard inflates with ISA-L where it is installed; zlib must reach the same rows
    and the same refusals (damaged, zip bomb, lying sizes) on every zipped file."""
    from segsync.input import zipguard

    if zipguard.inflating is zlib:
        pytest.skip("isal is not installed here: zlib is the only inflater")
    fast = _outcome(path)
    monkeypatch.setattr(zipguard, "inflating", zlib)
    assert _outcome(path) == fast
