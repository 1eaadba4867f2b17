"""segsync: change Raise campaign segments in bulk from a spreadsheet, safely."""

__version__ = "0.1.0"
