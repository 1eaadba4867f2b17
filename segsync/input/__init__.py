"""Reading and guarding input files: from a spreadsheet, CSV or DataFrame to an ``EditSet``.

``load_edits`` checks the file (type, size, zip and sheet-size guards) before any parser sees
it, reads one sheet, maps its header and validates every row; ``edits_from_dataframe`` applies
the same rules to a pandas DataFrame.
"""

from segsync.input.editset import CellRef, EditSet, RowEdit, RowError
from segsync.input.headers import header_to_field
from segsync.input.loader import edits_from_dataframe, load_edits

__all__ = [
    "CellRef",
    "EditSet",
    "RowEdit",
    "RowError",
    "edits_from_dataframe",
    "header_to_field",
    "load_edits",
]
