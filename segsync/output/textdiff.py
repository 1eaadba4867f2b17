"""Which characters of a value changed: before and after cut into unchanged and changed pieces.

For the changes table of the HTML report, the web page and the workbook. Fast on long text
(sentences, then words, then characters inside what changed), and readable: values less than
half alike are shown wholly changed, and tiny unchanged bits between two changes are absorbed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from segsync.model import FieldValue

#: how an absent value is shown
EMPTY = "(empty)"

#: Changed stretches up to this long (both sides) are compared character by character.
_CHAR_DIFF_MAX = 400
#: Longer ones sentence by sentence, then word by word (each piece keeps what follows or
#: precedes it, so the pieces join back into the text) ...
_SPLITS = (re.compile(r"[^.!?;\n]+[.!?;\n]*|[.!?;\n]+"), re.compile(r"\s*\S+|\s+"))
#: ... unless there are more pieces than this (product of the two counts): then all changed.
_SPLIT_DIFF_LIMIT = 250_000
#: An unchanged run this short between two changes is shown as changed (easier to read).
_MIN_KEPT_RUN = 3
#: Values less alike than this (share of unchanged characters, as ``SequenceMatcher.ratio``)
#: are shown as wholly changed: the letters two unrelated names share are noise.
_MIN_SIMILARITY = 0.5


@dataclass(frozen=True, slots=True)
class Part:
    """A piece of a value in a diff; ``changed`` pieces are highlighted."""

    text: str
    changed: bool


def is_empty(value: FieldValue) -> bool:
    return value is None or value == ""


def diff_parts(before: FieldValue, after: FieldValue) -> tuple[tuple[Part, ...], tuple[Part, ...]]:
    """Both values cut into unchanged and changed pieces, character by character.

    An empty value is one changed ``(empty)`` piece opposite a wholly changed value; so is a
    value less than half like the other (two unrelated names share letters by chance). Unchanged
    runs shorter than three characters between two changes count as changed, so that a changed
    word reads as one piece rather than a scatter of letters.

    Fast on long text: the common start and end are cut off first, and a long middle is
    compared word by word, then character by character inside each changed stretch of words.
    """
    a = "" if is_empty(before) else str(before)
    b = "" if is_empty(after) else str(after)
    if not a or not b:
        return (Part(a or EMPTY, True),), (Part(b or EMPTY, True),)
    ops = _opcodes(a, b)
    same = sum(len(left) for equal, left, _ in ops if equal)
    if 2 * same / (len(a) + len(b)) < _MIN_SIMILARITY:
        return (Part(a, True),), (Part(b, True),)
    last = len(ops) - 1
    marked = [
        (equal and not (0 < n < last and len(left) < _MIN_KEPT_RUN), left, right)
        for n, (equal, left, right) in enumerate(ops)
    ]
    return (
        _merge([(left, not equal) for equal, left, _ in marked]),
        _merge([(right, not equal) for equal, _, right in marked]),
    )


#: ``(unchanged?, text on the left, text on the right)``
_Op = tuple[bool, str, str]


def _opcodes(a: str, b: str) -> list[_Op]:
    if len(a) + len(b) <= _CHAR_DIFF_MAX:
        return _diff(a, b, SequenceMatcher(None, a, b, autojunk=False))
    # long text: keep the common start and end (cut where a word ends), diff the middle
    prefix = _common_start(a, b)
    while prefix and not (_boundary(a, prefix) and _boundary(b, prefix)):
        prefix -= 1
    room = min(len(a), len(b)) - prefix
    suffix = _common_start(a[::-1][:room], b[::-1][:room])
    while suffix and not (_boundary(a, len(a) - suffix) and _boundary(b, len(b) - suffix)):
        suffix -= 1
    ops: list[_Op] = [(True, a[:prefix], a[:prefix])] if prefix else []
    ops += _middle(a[prefix : len(a) - suffix], b[prefix : len(b) - suffix])
    if suffix:
        ops.append((True, a[len(a) - suffix :], a[len(a) - suffix :]))
    return ops


def _boundary(text: str, at: int) -> bool:
    """Whether ``at`` is between words (or at an end) in ``text``."""
    if at <= 0 or at >= len(text):
        return True
    return not (text[at - 1].isalnum() and text[at].isalnum())


def _common_start(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _middle(a: str, b: str) -> list[_Op]:
    if not a or not b:
        return [(False, a, b)] if a or b else []
    return _refine(a, b, 0)


def _refine(a: str, b: str, level: int) -> list[_Op]:
    """Diff character by character if short, else sentence by sentence, then word by word."""
    if len(a) + len(b) <= _CHAR_DIFF_MAX:
        return _diff(a, b, SequenceMatcher(None, a, b, autojunk=False))
    if level == len(_SPLITS):
        return [(False, a, b)]
    left, right = _SPLITS[level].findall(a), _SPLITS[level].findall(b)
    if len(left) * len(right) > _SPLIT_DIFF_LIMIT:
        return [(False, a, b)]
    ops: list[_Op] = []
    for equal, ta, tb in _diff(left, right, SequenceMatcher(None, left, right, autojunk=False)):
        if equal or not ta or not tb:
            ops.append((equal, ta, tb))
        else:
            ops += _refine(ta, tb, level + 1)
    return ops


def _diff(a: Sequence[str], b: Sequence[str], matcher: SequenceMatcher[str]) -> list[_Op]:
    return [
        (tag == "equal", "".join(a[i1:i2]), "".join(b[j1:j2]))
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
    ]


def _merge(pieces: list[tuple[str, bool]]) -> tuple[Part, ...]:
    """Join neighbouring pieces of the same kind; drop empty ones."""
    merged: list[Part] = []
    for text, changed in pieces:
        if not text:
            continue
        if merged and merged[-1].changed == changed:
            merged[-1] = Part(merged[-1].text + text, changed)
        else:
            merged.append(Part(text, changed))
    return tuple(merged)
