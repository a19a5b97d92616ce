"""Who signs off and why: the approver and note of a promotion or rollback, validated.

Both end up in ``active.json``, the history, terminals and pages. Checked before any
file is written: text (not bytes), not blank, no control characters (C0, C1), no
bidirectional overrides or zero-width characters in the approver (they would make a
name look like another, or like nobody), and bounded lengths. The note may hold line
breaks, tabs and emoji joiners, but no other control or bidirectional character.
"""

from __future__ import annotations

import unicodedata

from taskclf_core.errors import PromotionRefused, show_value

MAX_APPROVER_CHARS = 200
MAX_NOTE_CHARS = 4000

#: Bidirectional controls: embeddings, overrides, isolates, marks.
_BIDI = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
#: Zero-width and invisible formatting characters (plus the BOM and word joiner).
_ZERO_WIDTH = frozenset("\u00ad\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff")
_NOTE_WHITESPACE = frozenset("\n\t")


def _bad_char(
    text: str, *, allow: frozenset[str], invisible: bool = True
) -> tuple[int, str, str] | None:
    for index, ch in enumerate(text):
        if ch in allow:
            continue
        category = unicodedata.category(ch)
        if category == "Cc":
            kind = "a control character"
        elif ch in _BIDI:
            kind = "a bidirectional control character"
        elif category == "Cs":
            kind = "a lone surrogate (not valid Unicode text)"
        elif not invisible:
            continue
        elif ch in _ZERO_WIDTH or category == "Cf":
            kind = "a zero-width or invisible formatting character"
        elif category in ("Cs", "Co", "Cn"):
            kind = "a surrogate, private-use or unassigned character"
        elif category in ("Zl", "Zp"):
            kind = "a line or paragraph separator"
        else:
            continue
        return index, f"U+{ord(ch):04X}", kind
    return None


def validate_signoff(approver: object, note: object, verb: str) -> tuple[str, str]:
    """Check the approver and note of a champion change; return them stripped.

    Args:
        approver: Who decides (a name or handle).
        note: Why.
        verb: The action, for messages (``"promote"``, ``"roll back"``).

    Returns:
        ``(approver, note)`` with surrounding whitespace removed.

    Raises:
        PromotionRefused: Either is missing, blank, too long, or holds characters that
            are not allowed; the message names the field, the position and the rule.
    """
    if not isinstance(approver, str) or not approver.strip():
        raise PromotionRefused(f"an approver is required to {verb}; got {show_value(approver)}")
    if not isinstance(note, str) or not note.strip():
        raise PromotionRefused(f"a note is required to {verb} (say why); got {show_value(note)}")
    approver, note = approver.strip(), note.strip()
    if len(approver) > MAX_APPROVER_CHARS:
        raise PromotionRefused(
            f"the approver must be at most {MAX_APPROVER_CHARS} characters; got {len(approver)}"
        )
    if len(note) > MAX_NOTE_CHARS:
        raise PromotionRefused(
            f"the note must be at most {MAX_NOTE_CHARS} characters; got {len(note)}"
        )
    bad = _bad_char(approver, allow=frozenset())
    if bad is not None:
        index, code, kind = bad
        raise PromotionRefused(
            f"the approver must be plain visible text; character {index + 1} is {code}, {kind} "
            "(control, bidirectional and zero-width characters are not allowed)"
        )
    if not any(unicodedata.category(ch)[0] in "LN" for ch in approver):
        raise PromotionRefused(
            f"the approver must contain at least one letter or digit; got {show_value(approver)}"
        )
    bad = _bad_char(note, allow=_NOTE_WHITESPACE, invisible=False)
    if bad is not None:
        index, code, kind = bad
        raise PromotionRefused(
            f"the note must be plain text (line breaks and tabs allowed); character "
            f"{index + 1} is {code}, {kind}"
        )
    return approver, note
