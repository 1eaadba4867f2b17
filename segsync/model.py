"""The Raise segment API's request and response models and their field rules.

Kept free of I/O so the loader (offline validation), the differ (merging) and the sandbox (server
side validation) all apply one definition of what a valid segment is. The rules mirror
``PUT /api/Segment/{id}`` as documented: ``campaignId`` int64 required, ``name`` and ``code``
required with at least one character, ``description`` and ``externalIdentifier`` nullable.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

#: Fields a user may change, in the order the API documents them.
EDITABLE_FIELDS: tuple[str, ...] = (
    "campaignId",
    "name",
    "code",
    "description",
    "externalIdentifier",
)
NULLABLE_FIELDS: frozenset[str] = frozenset({"description", "externalIdentifier"})

#: Read-only values the API returns; shown in reports, never sent, never computed with.
STAT_FIELDS: tuple[str, ...] = (
    "campaignName",
    "totalDonors",
    "totalGifts",
    "totalGiftAmount",
    "averageGiftAmount",
    "medianGiftAmount",
    "highestGiftAmount",
    "totalVisitors",
    "conversionRate",
    "modifiedDateTime",
)
READ_ONLY_FIELDS: tuple[str, ...] = (*STAT_FIELDS, "createdDateTime")
ALL_FIELDS: tuple[str, ...] = ("id", *EDITABLE_FIELDS, *READ_ONLY_FIELDS)

FieldValue = int | str | None


def comparable(value: FieldValue) -> FieldValue:
    """The form in which two values of one field are compared: the one definition of "the same".

    Text is compared without surrounding whitespace, with ``\\r\\n`` and ``\\r`` read as ``\\n``
    and in Unicode NFC; empty text is the same as no value. A spreadsheet trims, re-types line
    endings and recomposes accents on its own, so a value that differs from the server's only in
    these ways was not changed by anyone: the differ and the export both rely on this.
    """
    if value.__class__ is not str:
        return value
    text = value.strip()
    if not text:
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return text


def same_value(a: FieldValue, b: FieldValue) -> bool:
    """Whether a sheet value and a server value are the same under :func:`comparable`."""
    return a == b or comparable(a) == comparable(b)


def field_errors(values: dict[str, Any]) -> dict[str, list[str]]:
    """Check a complete request body against the documented rules.

    Returns ``{camelCaseField: [message, ...]}`` (empty when valid), worded like ASP.NET's
    validation messages so the client, the loader and the sandbox report the same sentences.
    """
    errors: dict[str, list[str]] = {}
    cid = values.get("campaignId")
    if cid is None:
        errors["campaignId"] = ["The campaignId field is required."]
    elif isinstance(cid, bool) or not isinstance(cid, int) or not INT64_MIN <= cid <= INT64_MAX:
        errors["campaignId"] = ["The campaignId field must be a 64-bit integer."]
    for name in ("name", "code"):
        value = values.get(name)
        if value is None or value == "":
            errors[name] = [f"The {name} field is required."]
        elif not isinstance(value, str):
            errors[name] = [f"The {name} field must be a string."]
    for name in NULLABLE_FIELDS:
        value = values.get(name)
        if value is not None and not isinstance(value, str):
            errors[name] = [f"The {name} field must be a string or null."]
    return errors


@dataclass(frozen=True, slots=True)
class SegmentRequest:
    """The body of ``PUT /api/Segment/{id}``: always complete, since PUT replaces."""

    campaignId: int
    name: str
    code: str
    description: str | None = None
    externalIdentifier: str | None = None

    def to_json(self) -> dict[str, FieldValue]:
        return {f: getattr(self, f) for f in EDITABLE_FIELDS}

    @classmethod
    def from_values(cls, values: dict[str, FieldValue]) -> SegmentRequest:
        """The body from a complete editable dict (spelled out: this runs once per change)."""
        get = values.get
        return cls(
            get("campaignId"),  # type: ignore[arg-type]
            get("name"),  # type: ignore[arg-type]
            get("code"),  # type: ignore[arg-type]
            get("description"),  # type: ignore[arg-type]
            get("externalIdentifier"),  # type: ignore[arg-type]
        )


@dataclass(frozen=True, slots=True)
class Segment:
    """The segment model the API returns (GET, list item, PUT response).

    Parsing is tolerant: unknown keys are ignored and missing ones are None, because the
    documented model may grow and a report should still show what did arrive.
    """

    id: int
    campaignId: int | None
    name: str | None
    code: str | None
    description: str | None = None
    externalIdentifier: str | None = None
    campaignName: str | None = None
    totalDonors: int | None = None
    totalGifts: int | None = None
    totalGiftAmount: str | None = None
    averageGiftAmount: str | None = None
    medianGiftAmount: str | None = None
    highestGiftAmount: str | None = None
    totalVisitors: int | None = None
    conversionRate: str | None = None
    createdDateTime: str | None = None
    modifiedDateTime: str | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Segment:
        return cls(**{f: data.get(f) for f in ALL_FIELDS})  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in ALL_FIELDS}

    def editable(self) -> dict[str, FieldValue]:
        """The current values of the fields a PUT carries (spelled out: this is per row)."""
        return {
            "campaignId": self.campaignId,
            "name": self.name,
            "code": self.code,
            "description": self.description,
            "externalIdentifier": self.externalIdentifier,
        }

    def stats(self) -> dict[str, Any]:
        """The read-only values reports show next to each row."""
        return {f: getattr(self, f) for f in STAT_FIELDS}
