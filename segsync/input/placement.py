"""Where every column of a sheet goes: a field, a read-only field, the id, a note, or ignored.

A person's sheet has columns segsync must not guess about. Each header is placed by, in order:

1. the person's own say-so (``--map "HEADER=field"``, ``--ignore-column``, config
   ``input.columns``), matched as headers are (case, spaces, ``_`` and ``-`` do not count);
2. the field names and their aliases (``Segment Name``, ``Source Code``, ``Salesforce ID`` …);
3. a header that *looks like* a field but is not one (a near miss such as ``Segmnet Name``,
   ``Descripton``, or a field's word in it: ``New Name``, ``Desc``, ``Ext Ref``, ``Campaign``)
   is unplaced: the run is refused before any request, naming the column and its probable field;
4. anything else (``Notes``, ``Status``, ``Owner``) is a note, carried through to the results.

Nothing here reads cells: it is the header row only, so the web page can ask the same question.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from segsync.model import EDITABLE_FIELDS, READ_ONLY_FIELDS

MODIFIED: Final = "modifiedDateTime"

Kind = Literal["id", "field", "read-only", "note", "ignored"]

#: What a saved mapping may say for a column, besides a field name.
NOTE: Final = "note"
IGNORE: Final = "ignore"

#: Normalised alias → field. Only words that name one field in a segment sheet: a CRM's own id
#: for the segment is its external identifier, but an "Appeal Code" may be the campaign's, so
#: it is asked about rather than taken.
ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "id": ("segmentid", "segid", "raisesegmentid"),
    "campaignId": ("raisecampaignid",),
    "name": ("segmentname",),
    "code": ("segmentcode", "sourcecode", "segmentsourcecode"),
    "description": ("segmentdescription",),
    "externalIdentifier": (
        "externalid",
        "segmentexternalid",
        "segmentexternalidentifier",
        "crmid",
        "salesforceid",
        "sfdcid",
        "sfid",
    ),
    MODIFIED: ("modified", "modifieddate", "lastmodified", "lastmodifieddatetime", "modifiedat"),
    "createdDateTime": ("created", "createddate", "createdat"),
}

#: A word in a header that makes it look like a field (``New Name``, ``Ext Ref``): the field
#: it probably means. Words are compared whole, or as a near miss of four letters or more.
FIELD_WORDS: Final[dict[str, str]] = {
    "name": "name",
    "title": "name",
    "code": "code",
    "desc": "description",
    "descr": "description",
    "description": "description",
    "ext": "externalIdentifier",
    "external": "externalIdentifier",
    "ref": "externalIdentifier",
    "reference": "externalIdentifier",
    "identifier": "externalIdentifier",
    "id": "externalIdentifier",
    "campaign": "campaignId",
    "segment": "name",
}
#: Which field wins when a header holds several words (``Campaign Code`` → campaignId? no:
#: the code word is more specific than the campaign word).
_WORD_ORDER: Final = ("code", "description", "name", "externalIdentifier", "campaignId")


def normalise_header(header: str) -> str:
    """Header text → match key: case-folded, without whitespace, underscores or hyphens."""
    return "".join(str(header).split()).replace("_", "").replace("-", "").casefold()


def _build_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for name in ("id", *EDITABLE_FIELDS, *READ_ONLY_FIELDS):
        index[normalise_header(name)] = name
        for alias in ALIASES.get(name, ()):
            index[alias] = name
    return index


HEADER_INDEX: Final = _build_index()
#: Every field a mapping may name (the id, editable and read-only fields).
KNOWN_FIELDS: Final = ("id", *EDITABLE_FIELDS, *READ_ONLY_FIELDS)


def header_to_field(header: object) -> str | None:
    """The field a column header names (``"Segment ID"`` → ``"id"``), or None if unknown."""
    return HEADER_INDEX.get(normalise_header(str(header)))


def kind_of(field: str) -> Kind:
    if field == "id":
        return "id"
    return "field" if field in EDITABLE_FIELDS else "read-only"


@dataclass(frozen=True, slots=True)
class Placement:
    """One column: where it is (``letter``), its header, and what segsync does with it."""

    letter: str
    header: str
    kind: Kind
    field: str | None = None
    #: why: "header" (a field name or alias), "mapped" (the person said so), "hidden"
    #: (a hidden column left out), "guess" (a note by default)
    how: str = "header"

    def describe(self) -> str:
        """What a person reads: ``name``, ``read-only (campaignName)``, ``note``, ``ignored``."""
        if self.kind == "field" or self.kind == "id":
            return self.field or self.kind
        if self.kind == "read-only":
            return f"read-only ({self.field})"
        if self.kind == "ignored" and self.how == "hidden":
            return "ignored (hidden)"
        return self.kind


@dataclass(frozen=True, slots=True)
class Unplaced:
    """A column that looks like a field but is not one: ``guess`` is what it probably means."""

    letter: str
    header: str
    guess: str | None


def read_mapping(mapping: Mapping[str, str]) -> dict[str, str]:
    """A saved or flagged mapping, by normalised header: ``field`` / ``note`` / ``ignore``.

    Raises ValueError naming the entry that is none of those.
    """
    out: dict[str, str] = {}
    for header, target in mapping.items():
        wanted = str(target).strip()
        folded = wanted.casefold()
        if folded in (NOTE, "notes", "keep"):
            out[normalise_header(header)] = NOTE
        elif folded in (IGNORE, "ignored", "skip", "drop"):
            out[normalise_header(header)] = IGNORE
        else:
            field = header_to_field(wanted)
            if field is None:
                choices = ", ".join((*EDITABLE_FIELDS, "note", "ignore"))
                raise ValueError(
                    f"column '{header}' is mapped to '{wanted}', which is not a field; "
                    f"use one of {choices}"
                )
            out[normalise_header(header)] = field
    return out


def place(header: str, mapping: Mapping[str, str]) -> tuple[Kind, str | None, str] | Unplaced:
    """``(kind, field, how)`` for one header (``mapping`` from :func:`read_mapping`), or an
    :class:`Unplaced` (with an empty letter) when it looks like a field but is not one."""
    key = normalise_header(header)
    said = mapping.get(key)
    if said == NOTE:
        return ("note", None, "mapped")
    if said == IGNORE:
        return ("ignored", None, "mapped")
    if said is not None:
        return (kind_of(said), said, "mapped")
    field = HEADER_INDEX.get(key)
    if field is not None:
        return (kind_of(field), field, "header")
    guess = probable_field(header)
    if guess is not None:
        return Unplaced("", header, guess)
    return ("note", None, "guess")


_WORD = re.compile(r"[A-Za-z]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def _words(header: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(_CAMEL.sub(" ", header))]


def probable_field(header: str) -> str | None:
    """The field a header that is not a field's name probably means, or None.

    A near miss of a whole field name or alias (``Segmnet Name``, ``Descripton``, ``Total
    Donor``) first; else a field's word in it (``New Name``, ``Desc``, ``Ext Ref``), typos
    included (``Nmae``: no, too short; ``Campagin``: yes).
    """
    key = normalise_header(header)
    if len(key) >= 4:
        close = difflib.get_close_matches(key, list(HEADER_INDEX), n=1, cutoff=0.8)
        if close:
            return HEADER_INDEX[close[0]]
    found: set[str] = set()
    for word in _words(header):
        if word in FIELD_WORDS:
            found.add(FIELD_WORDS[word])
        elif len(word) >= 4:
            near = difflib.get_close_matches(word, list(FIELD_WORDS), n=1, cutoff=0.8)
            if near:
                found.add(FIELD_WORDS[near[0]])
    if "campaignId" in found and "name" in found and len(found) == 2:
        return "campaignName"  # "Campaign Title", "Name of campaign": the read-only name
    return next((f for f in _WORD_ORDER if f in found), None)
