"""Writing what people read: the results, preview and export workbooks (or CSV), safely.

Every file is written atomically and streamed, and every value from a sheet or the API is
written so that a spreadsheet shows it and never runs it.
"""
