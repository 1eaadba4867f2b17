"""Writing what people read: the results, preview, rollback and export files (xlsx or CSV).

Every file is written atomically (``atomic``) and streamed (``workbook``), and every value from
a sheet or the API is written so that a spreadsheet shows it and never runs it
(``xlsx_safety``). Nothing here decides an outcome: it reads a ``RunResult`` or segments.

* ``results``: the results file of a run. Its sheets: ``summary_sheet`` (Summary),
  ``tables`` (Problems, Changes), ``results_sheet`` (Results), ``details_sheet`` (Run
  details); ``rows`` is the one renderer of a results row (also ``to_dataframe()`` and the
  CSV), ``stats`` turns the API's statistics into numbers and local times, ``summary`` lists
  the facts of a run, ``sheet_views`` takes the views one row at a time.
* ``views`` and ``wording``: what a person is told (the HTML report, the web page and the
  workbook share them); ``html_report`` and ``textdiff``: the HTML report.
* ``export``: the editable export; ``csv_files``: CSV writing; ``read_back``: reading a
  results file back; ``styles`` and ``field_kinds``: how cells look and which fields are text
  or numbers.
"""
