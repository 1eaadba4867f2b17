"""Size limits shared by the input guards."""

from __future__ import annotations

from typing import Final

MB: Final = 1024 * 1024

#: Largest dense rectangle (rows × columns between the first and last filled cell) a workbook may
#: make calamine allocate. calamine allocates that whole rectangle, however sparse the sheet, and
#: a failed Rust allocation aborts the process rather than raising. 2**24 cells is the largest
#: sheet Excel 97-2003 could hold (65,536 × 256), and still 500,000 rows × 33 columns.
MAX_SHEET_CELLS: Final = 16_777_216
