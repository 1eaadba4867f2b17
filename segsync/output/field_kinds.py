"""Which segment fields are text, numbers or amounts in segsync's workbooks.

Shared by the results layout and the export, so a field is shown the same way in both.
"""

from __future__ import annotations

from segsync.model import STAT_FIELDS

#: Editable fields that are text for the API: always text cells, typed-in values stay text.
TEXT_FIELDS: frozenset[str] = frozenset({"name", "code", "description", "externalIdentifier"})
#: Stats shown as numbers when Excel can hold them exactly (the API may send text decimals).
NUMERIC_STATS: frozenset[str] = frozenset(STAT_FIELDS) - {"campaignName", "modifiedDateTime"}
#: Numeric stats that are money (two decimals).
AMOUNT_STATS: frozenset[str] = frozenset(
    {"totalGiftAmount", "averageGiftAmount", "medianGiftAmount", "highestGiftAmount"}
)
