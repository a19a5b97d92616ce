"""Integrity: a model.txt altered after the run is refused at promotion and flagged in listings.

The run's ``decision.json`` holds the SHA-256 of every file (the manifest) and each
bundle's ``metadata.json`` holds the hash of its ``model.txt``. Altering the model of a
run, of a promoted bundle or of the champion, before or during a promotion, must never
let it through: promotion and rollback refuse with a message naming the run and the
file, ``list_runs(verify=True)`` and ``list_models`` flag it, and nothing is changed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers_faults import Zygote, capture, leftovers, scratch_dir, shared_zygote
from helpers_registry import champion_of, make_run, promoted_run

from taskclf_core.errors import PromotionRefused
from taskclf_core.paths import Home
from taskclf_core.registry.listing import (
    champion_problem,
    list_models,
    list_runs,
    promotability,
    promote,
    read_active,
    rollback,
    verify_run,
)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    with scratch_dir(tmp_path) as folder:
        yield Home(folder / "home")


def _flip_a_byte(path: Path) -> None:
    """Alter the file in place, keeping its size (a silent corruption or a tampering)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _refused(home: Home, run_id: str) -> str:
    can, reason = promotability(home, run_id, auto_promote=False)
    with pytest.raises(PromotionRefused) as err:
        promote(home, run_id, approver="alice", note="ship it", auto_promote=False)
    assert not can and str(err.value) == reason
    return reason


def test_run_with_an_altered_model_is_refused_and_flagged(home: Home) -> None:
    champion = promoted_run(home)
    run_id = make_run(home, champion=champion_of(home))
    _flip_a_byte(home.runs_dir / run_id / "model.txt")
    before = capture(home.root)

    problem = (
        f"run {run_id}: model.txt does not match its SHA-256 in the manifest of decision.json "
        "(file altered after the run?)"
    )
    assert _refused(home, run_id) == f"run {run_id} cannot be promoted because its files are not intact: {problem}"
    assert verify_run(home, run_id) == problem
    listed = {r.run_id: r.broken for r in list_runs(home, verify=True)}
    assert listed == {run_id: problem, champion: None}
    # Nothing was copied or changed.
    assert capture(home.root) == before and leftovers(home.root) == []
    assert read_active(home).model_id == champion  # type: ignore[union-attr]


def test_run_whose_model_and_metadata_were_altered_together_is_still_refused(home: Home) -> None:
    promoted_run(home)
    run_id = make_run(home, champion=champion_of(home))
    folder = home.runs_dir / run_id
    _flip_a_byte(folder / "model.txt")
    meta = json.loads((folder / "metadata.json").read_text())
    meta["model_sha256"] = hashlib.sha256((folder / "model.txt").read_bytes()).hexdigest()
    (folder / "metadata.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")

    reason = _refused(home, run_id)
    # The manifest in decision.json catches the consistent pair (files checked by name).
    assert reason == (
        f"run {run_id} cannot be promoted because its files are not intact: run {run_id}: "
        "metadata.json does not match its SHA-256 in the manifest of decision.json (file altered after the run?)"
    )


def test_promoted_bundle_with_an_altered_model_is_flagged_and_cannot_be_rolled_back_to(home: Home) -> None:
    earlier = promoted_run(home, note="first")
    champion = promoted_run(home, note="second")
    _flip_a_byte(home.models_dir / earlier / "model.txt")

    models = {m.model_id: (m.is_champion, m.broken) for m in list_models(home)}
    problem = (
        f"bundle models/{earlier}: model.txt does not match its SHA-256 in the manifest of "
        f"artifacts/runs/{earlier}/decision.json (file altered after the run?)"
    )
    assert models == {champion: (True, None), earlier: (False, problem)}
    with pytest.raises(PromotionRefused) as err:
        rollback(home, earlier, approver="bob", note="back")
    assert str(err.value) == f"cannot roll back to {earlier}: {problem}"
    assert read_active(home).model_id == champion  # type: ignore[union-attr]


def test_altered_champion_is_reported_blocks_promotion_and_a_rollback_fixes_it(home: Home) -> None:
    earlier = promoted_run(home, note="first")
    champion = promoted_run(home, note="second")
    waiting = make_run(home, champion=champion_of(home))
    _flip_a_byte(home.models_dir / champion / "model.txt")
    pointer_bytes = (home.models_dir / "active.json").read_bytes()

    problem = champion_problem(home)
    assert problem is not None and problem.what == (
        f"models/active.json points to models/{champion}, which is broken: bundle models/{champion}: "
        f"model.txt does not match its SHA-256 in the manifest of artifacts/runs/{champion}/"
        "decision.json (file altered after the run?)"
    )
    assert f"to a former champion whose bundle is good (for example {earlier})" in problem.fix
    assert {m.model_id: m.broken is None for m in list_models(home)} == {champion: False, earlier: True}
    assert _refused(home, waiting).startswith("the champion pointer is broken (models/active.json points to ")
    assert (home.models_dir / "active.json").read_bytes() == pointer_bytes  # reported, never replaced

    rollback(home, earlier, approver="bob", note="the champion's model file was altered")
    assert read_active(home).model_id == earlier  # type: ignore[union-attr]
    assert champion_problem(home) is None


@pytest.fixture(scope="module")
def zygote() -> Zygote:
    return shared_zygote()


def test_model_altered_while_a_promotion_copies_it_is_refused(home: Home, zygote: Zygote, tmp_path: Path) -> None:
    """Checked before the copy and again on the copied bytes: a change in between is caught."""
    promoted_run(home)
    run_id = make_run(home, champion=champion_of(home))
    before = capture(home.root)
    flags = tmp_path / "flags"
    flags.mkdir()
    env = {"TASKCLF_FAULTPOINT": "promote.copy", "TASKCLF_FAULTPOINT_ACTION": f"pause:{flags}"}
    started = zygote.start("promote", env=env, root=str(home.root), run_id=run_id)
    try:
        deadline = time.monotonic() + 30
        while not (flags / "promote.copy.reached").exists():
            assert time.monotonic() < deadline, "the promotion never reached the copy"
            time.sleep(0.01)
        _flip_a_byte(home.runs_dir / run_id / "model.txt")  # after the check, before the copy
    finally:
        (flags / "promote.copy.release").touch()
        trial = zygote.wait(started)
    assert trial.outcome is not None and trial.outcome["type"] == "PromotionRefused", trial.describe()
    assert trial.outcome["message"] == f"run {run_id}: model.txt changed while it was copied to models/{run_id}; promote again"
    assert capture(home.root).active == before.active and capture(home.root).models == before.models
    assert leftovers(home.root) == []  # nothing was installed and nothing left behind
    assert verify_run(home, run_id) is not None
