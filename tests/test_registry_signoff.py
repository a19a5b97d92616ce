"""Approver and note validation (issue 11.11, core): a property over random Unicode text.

Whatever text comes in, ``validate_signoff`` either refuses it with a one-line
``PromotionRefused`` or returns text that holds no control, bidirectional or (in the
approver) zero-width character, within the length caps, with a letter or digit in the
approver.
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskclf_core.errors import PromotionRefused
from taskclf_core.registry.signoff import MAX_APPROVER_CHARS, MAX_NOTE_CHARS, validate_signoff

BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
TRICKY = st.sampled_from(
    ["\x1b[2J", "\x07", "\x85", "\u200b", "\u200d", "\ufeff", "\u202e", "\u2066", "\r", "\n", "\t", "\ud800", "a", "é", "👩‍💻", " "]
)
TEXT = st.lists(st.one_of(st.characters(), TRICKY), max_size=60).map("".join) | st.text(max_size=300)


@settings(max_examples=400, deadline=None)
@given(approver=TEXT, note=TEXT)
def test_signoff_text_is_refused_or_clean(approver: str, note: str) -> None:
    try:
        who, why = validate_signoff(approver, note, "promote")
    except PromotionRefused as exc:
        message = str(exc)
        assert "\n" not in message and len(message) < 400
        return
    assert 0 < len(who) <= MAX_APPROVER_CHARS and 0 < len(why) <= MAX_NOTE_CHARS
    for ch in who:
        assert unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Zl", "Zp") and ch not in BIDI
    assert any(unicodedata.category(ch)[0] in "LN" for ch in who)
    for ch in why:
        assert ch in "\n\t" or (unicodedata.category(ch) not in ("Cc", "Cs") and ch not in BIDI)


@pytest.mark.parametrize("value", [None, 3, b"alice"])
def test_non_text_approver_is_refused(value: object) -> None:
    with pytest.raises(PromotionRefused, match="an approver is required to promote"):
        validate_signoff(value, "why", "promote")
