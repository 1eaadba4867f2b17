"""Writing what people read: the results, preview, rollback and export files (xlsx or CSV).

Every file is written atomically (``atomic``) and streamed (``workbook``), and every value from
a sheet or the API is written so that a spreadsheet shows it and never runs it
(``xlsx_safety``). Nothing here decides an outcome: it reads a ``RunResult`` or segments.

* ``results``: the results file of a run; ``results_sheet`` and ``summary_sheet`` are its
  sheets, ``rows`` the one renderer of a results row, ``summary`` the facts of a run.
* ``export``: the editable export; ``csv_files``: CSV writing; ``read_back``: reading a
  results file back; ``styles`` and ``field_kinds``: how cells look and which fields are text
  or numbers; ``report``: the old import path of the public functions.
"""
