"""Issue 21 item 5: History's roll-back picker says when each model was champion, its macro-F1
and how it left, and defaults to the champion just replaced (never one just rolled back from)."""

from __future__ import annotations

from pathlib import Path

from helpers_registry import champion_of, make_run, promoted_run

from taskclf_core.console.formatting import format_time
from taskclf_core.console.read.history import history_view
from taskclf_core.paths import Home
from taskclf_core.registry.history import read_history
from taskclf_core.registry.listing import promote, rollback


def test_each_option_says_when_it_served_its_macro_f1_and_how_it_left(tmp_path: Path) -> None:
    home = Home(tmp_path)
    a = promoted_run(home)
    b = promoted_run(home, note="second")
    c = make_run(home, champion=champion_of(home), macro_f1=0.8123)
    promote(home, c, approver="carol", note="third", auto_promote=False)
    entries = {e.new_champion: e for e in reversed(read_history(home))}  # the first change to each
    view = history_view(home)
    labels = {o.model_id: o.label for o in view.rollback_choices}
    assert set(labels) == {a, b}
    assert labels[b] == (
        f"{b} · champion {format_time(entries[b].time)} to {format_time(entries[c].time)} · macro-F1 0.8000 · "
        f"left: replaced by the promotion of {c}"
    )
    assert labels[a].endswith(f"· left: replaced by the promotion of {b}")
    # The default: the champion just replaced (b), not the older one.
    assert view.rollback_choices[view.rollback_default or 0].model_id == b and view.rollback_default is not None

    # Roll back from c to b: c was rolled back from, so it is never the default; a is.
    rollback(home, b, approver="dana", note="c misbehaves")
    view = history_view(home)
    labels = {o.model_id: o.label for o in view.rollback_choices}
    assert labels[c].endswith(f"· macro-F1 0.8123 · left: rolled back from, to {b}")
    assert view.rollback_default is not None and view.rollback_choices[view.rollback_default].model_id == a
