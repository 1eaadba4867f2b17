"""Real files from other programs: each read for its real reason, every refusal on one line.

The shapes come from a sweep of public test corpora (calamine, python-calamine, csvkit,
frictionless …); ``tests/data/make_real_corpus.py`` rebuilds each class in ``tests/data/real/``
(see its docstring for the real file each one stands for). The real files themselves are not
committed: ``STAND_INS`` names the generated file that stands for each.
"""

from __future__ import annotations

import importlib.util
import re
import unicodedata
import zipfile
from pathlib import Path
from typing import Any

import pytest

from segsync.config import InputSettings
from segsync.errors import FileTooLargeError, InputError, NoDataError, UnsupportedFileError
from segsync.input.decoding import foreign_word
from segsync.input.editset import CellRef
from segsync.input.loader import load_edits
from segsync.input.messages import one_line, quoted, shown
from segsync.input.sniff import compression_of
from segsync.input.zipguard import part_key
from tests.helpers import run_cli, run_cli_process
from tests.test_input_corpus import BASIC_VALUES, errors_by_row, values_by_id

DATA = Path(__file__).resolve().parent / "data"
REAL = DATA / "real"
SETTINGS = InputSettings()


def load(name: str, folder: Path = REAL, **kwargs: Any) -> Any:
    return load_edits(folder / name, SETTINGS, **kwargs)


def rezip(source: Path, target: Path, rename: Any) -> Path:
    """``source``'s members under new names (e.g. with backslashes)."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            zf.writestr(rename(info.filename), src.read(info.filename))
    return target


# ----------------------------------------------------------------------------- the helpers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Segment ID", "Segment ID"),
        ("ABC\r\nDEF", "ABC\\r\\nDEF"),
        ("start \t\n end", "start \\t\\n end"),
        ("Bad\x00Nul", "Bad\\x00Nul"),
        ("\x1b[31mRed", "\\x1b[31mRed"),
        ("\u202eevil", "\\u202eevil"),  # a bidi override would reorder the message
        ("lone \udc80", "lone \\udc80"),  # stderr could not even encode it
        ("Café\u00a0Zürich", "Café\u00a0Zürich"),  # letters and spaces stay as they are
        ("H" * 41, "H" * 39 + "…"),
        ("H" * 40, "H" * 40),
        ("\n" * 30, "\\n" * 19 + "…"),  # escapes are never cut in half
        (12.5, "12.5"),
    ],
)
def test_shown_makes_file_content_printable_and_short(text: object, expected: str) -> None:
    assert shown(text) == expected
    assert len(shown(text)) <= 40
    assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in expected)


def test_quoted_lists_a_few_names_each_shown() -> None:
    assert quoted(["a\nb", "c"]) == "'a\\nb', 'c'"
    assert quoted(range(15), most=3) == "'0', '1', '2' and 12 more"


def test_one_line_escapes_without_cutting() -> None:
    message = "x.csv holds 'a\nb' and " + "y" * 500
    assert one_line(message) == message.replace("\n", "\\n")
    assert one_line("plain") == "plain"


def test_cell_references_stay_on_one_line() -> None:
    ref = CellRef("Ed\tits", 3, 1, "Segment\nName")
    assert str(ref) == "Ed\\tits!B3 (Segment\\nName)"


@pytest.mark.parametrize(
    ("head", "what"),
    [
        (b"\x1f\x8b\x08\x00", "a gzip-compressed file"),
        (b"BZh91AY&SY", "a bzip2-compressed file"),
        (b"\xfd7zXZ\x00\x00", "an xz-compressed file"),
        (b"\x28\xb5\x2f\xfd", "a Zstandard-compressed file"),
        (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
        (b"BZh9,id,name\r\n", None),  # text that merely starts like bzip2
        (b"id,name\r\n", None),
    ],
)
def test_compression_is_recognised_from_magic_bytes(head: bytes, what: str | None) -> None:
    assert compression_of(head) == what


def test_part_keys_compare_as_calamine_does() -> None:
    assert part_key("XL\\Worksheets\\Sheet1.xml") == "xl/worksheets/sheet1.xml"
    assert part_key("xl/Ünïcode.xml") == "xl/Ünïcode.xml"  # only ASCII letters fold


@pytest.mark.parametrize(
    "text",
    [
        "id,name\n1,Café\n2,Zürich naïve\n3,déjà vu\n4,Größe\n5,ação\n6,été\n7,Ñuñez\n",
        "id,name\n1,Þóra Guðmundsdóttir\n2,Åsa Ørsted\n3,Ærø\n",
        "id,name\n1,plain ASCII only\n",
    ],
)
def test_western_text_is_not_taken_for_another_alphabet(text: str) -> None:
    assert foreign_word(text) is None


@pytest.mark.parametrize(("codec", "words"), [("iso-8859-7", "Λεωνίδας Αλέξανδρος Μαρία")])
def test_another_alphabet_read_as_windows_1252_is_noticed(codec: str, words: str) -> None:
    mojibake = f"id,name\n1,{words}\n".encode(codec).decode("cp1252", "replace")
    assert foreign_word(mojibake) == mojibake.split(",")[-1].split()[0]


def test_cyrillic_read_as_windows_1252_is_noticed() -> None:
    mojibake = "id,name\n1,Иван Петров\n2,Мария\n".encode("cp1251").decode("cp1252", "replace")
    assert foreign_word(mojibake) is not None


# ------------------------------------------------------------------ valid workbooks, odd shapes


def test_backslash_member_names_load_like_basic_xlsx() -> None:
    edits = load("backslash_names.xlsx")
    assert values_by_id(edits) == BASIC_VALUES
    assert not edits.invalid_rows and edits.warnings == []


def test_a_package_with_its_parts_at_the_root_loads() -> None:
    edits = load("root_parts.xlsx")
    assert edits.sheet == "Edits"
    assert values_by_id(edits) == {
        100001: {"name": "Root one", "code": "R-1"},
        100002: {"name": "Root two", "code": "R-2"},
    }


def test_a_capitalised_workbook_stream_loads_like_legacy_xls() -> None:
    edits = load("capitalised_stream.xls")
    assert edits.sheet == "Legacy"
    assert values_by_id(edits)[100001] == {"name": "Spring appeal", "code": "00123"}
    assert values_by_id(edits)[100002] == {"name": "Café", "code": "42"}
    assert list(errors_by_row(edits)) == [4]


def test_backslash_names_do_not_hide_a_sparse_bomb(tmp_path: Path) -> None:
    """The extent guard finds the worksheet under its backslash name, as calamine does."""
    bomb = rezip(DATA / "sparse_bomb.xlsx", tmp_path / "b.xlsx", lambda n: n.replace("/", "\\"))
    with pytest.raises(FileTooLargeError, match="spans 1,048,576 rows × 16,384 columns"):
        load_edits(bomb, SETTINGS)


def test_backslash_names_do_not_hide_a_lying_zip(tmp_path: Path) -> None:
    """Renamed in place (its CRC is wrong on purpose, so it cannot be re-zipped)."""
    data = (DATA / "lying_zip.xlsx").read_bytes()
    for name in zipfile.ZipFile(DATA / "lying_zip.xlsx").namelist():
        data = data.replace(name.encode(), name.replace("/", "\\").encode())
    lying = tmp_path / "l.xlsx"
    lying.write_bytes(data)
    with pytest.raises(FileTooLargeError, match="inflates beyond the 2,000 bytes"):
        load_edits(lying, SETTINGS)


def test_two_members_calamine_cannot_tell_apart_are_refused(tmp_path: Path) -> None:
    """``xl/worksheets/sheet1.xml`` and ``XL\\worksheets\\sheet1.xml``: calamine reads one of
    them; which is checked cannot be left to chance."""
    path = tmp_path / "twice.xlsx"
    with zipfile.ZipFile(DATA / "basic.xlsx") as src, zipfile.ZipFile(path, "w") as zf:
        for info in src.infolist():
            zf.writestr(info.filename, src.read(info.filename))
        zf.writestr("XL\\worksheets\\sheet1.xml", src.read("xl/worksheets/sheet1.xml"))
    with pytest.raises(UnsupportedFileError, match=r"damaged or incomplete.*twice"):
        load_edits(path, SETTINGS)


def test_sheet_targets_are_resolved_as_calamine_resolves_them(tmp_path: Path) -> None:
    """A target with ``..`` is not normalised by calamine: a member literally named so is the
    one it reads, and the one scanned."""
    src = zipfile.ZipFile(DATA / "sparse_bomb.xlsx")
    path = tmp_path / "dotdot.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b'Target="worksheets/sheet1.xml"', b'Target="x/../s.xml"')
            if info.filename == "xl/worksheets/sheet1.xml":
                zf.writestr("xl/x/../s.xml", data)
                continue
            zf.writestr(info.filename, data)
    with pytest.raises(FileTooLargeError, match="spans 1,048,576 rows"):
        load_edits(path, SETTINGS)


# ------------------------------------------------------------------------------ error cells


def test_an_error_sheet_before_the_data_is_skipped_with_a_warning() -> None:
    edits = load("error_first_sheet.xlsx")
    assert edits.sheet == "Edits"
    assert values_by_id(edits) == {100001: {"name": "One"}}
    assert edits.warnings == [
        "read sheet 'Edits'; sheet 'Errors' before it was skipped because every filled cell "
        "shows an Excel error (#DIV/0!, #NAME?, #VALUE! …)."
    ]


def test_an_error_sheet_named_is_refused_for_its_errors() -> None:
    with pytest.raises(NoDataError, match="sheet 'Errors' has no values: every filled cell"):
        load("error_first_sheet.xlsx", sheet="Errors")


def test_a_row_of_error_cells_is_a_row_error_not_a_missing_row() -> None:
    edits = load("error_rows.xlsx")
    assert [r.source_row for r in edits.rows] == [2, 3, 4]
    assert errors_by_row(edits) == {
        3: [
            "Edits!A3 (id): the cell shows the Excel error #N/A; fix the formula or type the value",
            "Edits!B3 (name): the cell shows the Excel error #N/A; fix the formula or type the "
            "value",
        ]
    }


def test_a_greek_csv_in_iso_8859_7_warns_plainly() -> None:
    edits = load("greek.csv")
    assert len(edits.rows) == 3
    (warning,) = [w for w in edits.warnings if "UTF-8" in w]
    assert "Windows-1252" in warning and "check the accented letters in the preview" in warning
    assert "save the file as 'CSV UTF-8'" in warning


def test_a_western_windows_1252_csv_keeps_its_short_warning() -> None:
    edits = load_edits(DATA / "cp1252.csv", SETTINGS)
    assert "cp1252.csv is not UTF-8; it was read as Windows-1252 (Excel's 'CSV' on Windows)." in (
        edits.warnings
    )


# ------------------------------------------------------------------------- every file-level case

#: file → (error, pattern of the one line a person reads)
REFUSALS: dict[str, tuple[type[InputError], str]] = {
    "encrypted.xls": (
        UnsupportedFileError,
        r"^encrypted\.xls is password-protected; remove the password in Excel "
        r"\(File ▸ Info ▸ Protect Workbook\) and save again\.$",
    ),
    "encrypted.ods": (
        UnsupportedFileError,
        r"^encrypted\.ods is password-protected; open it in LibreOffice, then File ▸ Save As "
        r"with 'Save with password' unticked",
    ),
    "error_cells.xlsx": (
        NoDataError,
        r"^error_cells\.xlsx: sheet 'Errors' has no values: every filled cell shows an Excel "
        r"error \(#DIV/0!, #NAME\?, #VALUE! …\); fix the formulas or type the values",
    ),
    "gzip.csv": (
        UnsupportedFileError,
        r"^gzip\.csv is a gzip-compressed file, not a spreadsheet or CSV; unzip it first",
    ),
    "bzip2.csv": (UnsupportedFileError, r"^bzip2\.csv is a bzip2-compressed file.*unzip it first"),
    "xz.csv": (UnsupportedFileError, r"^xz\.csv is an xz-compressed file.*unzip it first"),
    "zip.csv": (
        UnsupportedFileError,
        r"^zip\.csv is a zip archive holding edits\.csv, not a spreadsheet; unzip it first",
    ),
    "header_controls.xlsx": (
        NoDataError,
        r"^header_controls\.xlsx: sheet 'Ed\\tits' has no id column.*'Segment\\r\\nName', "
        r"'Code\\tX', 'Bad\\x00Nul', '\\x1b\[31mRed'\)\.$",
    ),
    "header_controls.csv": (
        NoDataError,
        r"^header_controls\.csv has no id column.*'start \\t\\n end', 'Code\\tX', "
        r"'Bad\\x00Nul', '\\x1b\[31mRed', '\\u202eevil', 'H{39}…'\)\.$",
    ),
    "header_controls.ods": (
        NoDataError,
        r"^header_controls\.ods: sheet 'Edits' has no id column.*'Split\\nLine', 'Other'\)\.$",
    ),
    "duplicate_controls.csv": (
        NoDataError,
        r"^duplicate_controls\.csv has two columns for name: 'Segment\\nName' \(column B\) and "
        r"'name' \(column C\); delete one of them\.$",
    ),
    "oversized_part.xlsx": (
        UnsupportedFileError,
        r"^oversized_part\.xlsx is damaged or incomplete .*xl/_rels/workbook\.xml\.rels holds 2 "
        r"bytes more than its zip directory declares.*save it again\.$",
    ),
}
#: files that load: (exit code of validate, words a warning on stderr must hold, or "")
LOADS: dict[str, tuple[int, str]] = {
    "backslash_names.xlsx": (0, ""),
    "root_parts.xlsx": (0, ""),
    "capitalised_stream.xls": (1, ""),  # legacy.xls's date-as-id row error
    "error_first_sheet.xlsx": (0, "every filled cell shows an Excel error"),
    "error_rows.xlsx": (1, ""),
    "greek.csv": (0, "check the accented letters in the preview"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_each_refusal_is_its_real_reason_on_one_line(name: str) -> None:
    error, pattern = REFUSALS[name]
    with pytest.raises(error) as caught:
        load(name)
    message = str(caught.value)
    assert re.search(pattern, message), message
    assert message.isprintable(), message


def test_every_generated_file_is_covered() -> None:
    on_disk = {p.name for p in REAL.iterdir() if p.is_file()}
    assert on_disk == set(REFUSALS) | set(LOADS)


def test_the_generator_reproduces_the_committed_files(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_real_corpus", DATA / "make_real_corpus.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for made in tmp_path.iterdir():
        assert made.read_bytes() == (REAL / made.name).read_bytes(), made.name


# ----------------------------------------------------------------------------- through the CLI


def validate(path: Path, tmp_path: Path) -> Any:
    return run_cli("validate", str(path), cwd=tmp_path)


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_cli_refuses_with_one_line(name: str, tmp_path: Path) -> None:
    proc = validate(REAL / name, tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("segsync: ")
    assert lines[0].isprintable(), lines[0]
    assert re.search(REFUSALS[name][1], lines[0].removeprefix("segsync: ")), lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize("name", ["header_controls.csv", "encrypted.xls"])
def test_cli_in_its_own_process_writes_one_line_to_stderr(name: str, tmp_path: Path) -> None:
    """What a terminal or a log really receives (the in-process runner captures it differently)."""
    proc = run_cli_process("validate", str(REAL / name), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("segsync: "), proc.stderr
    assert proc.stderr.rstrip("\n").isprintable()


@pytest.mark.parametrize("name", sorted(LOADS))
def test_cli_reads_the_valid_ones(name: str, tmp_path: Path) -> None:
    code, warning = LOADS[name]
    proc = validate(REAL / name, tmp_path)
    assert proc.returncode == code, proc.stderr
    assert all(line.isprintable() for line in proc.stderr.splitlines())
    if warning:
        (line,) = [line for line in proc.stderr.splitlines() if warning in line]
        assert line.startswith("warning: ")
    assert "Traceback" not in proc.stderr and f"[{load(name).sheet}]" in proc.stdout


# ------------------------------------------------------------- the real files of the sweep

#: Each real file of the sweep (public repositories named in make_real_corpus.py; not committed:
#: licences, size) and the generated stand-in in tests/data/real/ that rebuilds its shape. The
#: stand-ins run through the library and ``segsync validate`` above, in every CI run; the real
#: files are not needed for that.
STAND_INS: dict[str, str] = {
    "issue_530.xlsx": "backslash_names.xlsx",
    "minimal_package.xlsx": "root_parts.xlsx",
    "capitalized_wbook_stream.xls": "capitalised_stream.xls",
    "password.xls": "encrypted.xls",
    "issue_385.xls": "encrypted.xls",
    "pass_protected.ods": "encrypted.ods",
    "errors.xlsx": "error_cells.xlsx",
    "implicit-gz.csv": "gzip.csv",
    "implicit-zip.csv": "zip.csv",
    "has_x000D_.xlsx": "header_controls.xlsx",
    "richtext-namespaced.xlsx": "header_controls.xlsx",
    "special_cells.ods": "header_controls.ods",
    "test_header_newline.csv": "header_controls.csv",
    "issue252.xlsx": "oversized_part.xlsx",
    "table-infer-iso-8859-7.csv": "greek.csv",
}


def test_every_real_file_of_the_sweep_has_a_stand_in_the_cli_runs() -> None:
    for real, stand_in in STAND_INS.items():
        assert (REAL / stand_in).is_file(), (real, stand_in)
        assert stand_in in REFUSALS or stand_in in LOADS, (real, stand_in)
        assert real in (DATA / "make_real_corpus.py").read_text(encoding="utf-8"), real


def test_no_zip_member_name_reaches_a_message_raw(tmp_path: Path) -> None:
    """A member name holding a line break, in a sentence about that member, stays on one line."""
    path = tmp_path / "odd.xlsx"
    with zipfile.ZipFile(DATA / "basic.xlsx") as src, zipfile.ZipFile(path, "w") as zf:
        for info in src.infolist():
            zf.writestr(info.filename, src.read(info.filename))
        zf.writestr("xl/odd\nname.xml", "<!DOCTYPE x [<!ENTITY a 'b'>]><x/>")
    with pytest.raises(UnsupportedFileError) as caught:
        load_edits(path, SETTINGS)
    assert "xl/odd\\nname.xml" in str(caught.value) and str(caught.value).isprintable()


def test_a_file_name_with_a_line_break_stays_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "two\nlines.csv"
    path.write_bytes(b"")
    with pytest.raises(NoDataError) as caught:
        load_edits(path, SETTINGS)
    assert str(caught.value) == "two\\nlines.csv is empty."


def test_the_loader_escapes_a_message_that_slipped_through(monkeypatch: pytest.MonkeyPatch) -> None:
    """The safety net behind ``shown``: whatever a reader forgot, a refusal stays one line."""
    from segsync.input import headers

    monkeypatch.setattr(headers, "_no_id_message", lambda table, texts: "raw 'a\nb' header")
    with pytest.raises(NoDataError) as caught:
        load_edits(DATA / "no_id_column.xlsx", SETTINGS)
    assert str(caught.value) == "raw 'a\\nb' header"
