"""One read per render: a page render and a CLI listing read the registry's files once.

The files opened are counted with an audit hook on the interpreter's ``open`` event (every
``open()`` and ``os.open()`` raises it): nothing of ours is replaced or mocked.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from taskclf_core.console.cli import app as cli_app
from tests.conftest import APP, SeededHome

REVIEW, HISTORY = "pages/2_Review.py", "pages/3_History.py"
_OPENED: list[Counter[str]] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event == "open" and _OPENED and args and isinstance(args[0], str | bytes | Path):
        path = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
        _OPENED[-1][path] += 1


sys.addaudithook(_audit)  # audit hooks cannot be removed: it counts only inside opened_files()


@contextmanager
def opened_files() -> Iterator[Counter[str]]:
    """Every file path opened inside the block, with how often."""
    counts: Counter[str] = Counter()
    _OPENED.append(counts)
    try:
        yield counts
    finally:
        _OPENED.pop()


def _opens(counts: Counter[str], root: Path, name: str) -> int:
    return sum(n for path, n in counts.items() if Path(path) == root / "models" / name)


def test_a_status_render_reads_active_json_once(home_copy: Path, seeded_home: SeededHome) -> None:
    at = AppTest.from_file(str(APP), default_timeout=60).run()  # warm: imports, caches
    with opened_files() as counts:
        at.run()
    assert not at.exception, at.exception
    assert "Champion" in [h.value for h in at.subheader] and any(seeded_home.champion in m.value for m in at.markdown)
    assert _opens(counts, home_copy, "active.json") == 1, counts
    assert _opens(counts, home_copy, "active_history.jsonl") >= 1  # the history was read, too


def test_history_and_review_renders_read_active_json_once(home_copy: Path, seeded_home: SeededHome) -> None:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    for page, query in ((HISTORY, {}), (REVIEW, {"run": seeded_home.awaiting})):
        at.query_params.clear()
        at.query_params.update(query)
        with opened_files() as counts:
            at.switch_page(page).run()
        assert not at.exception, at.exception
        assert _opens(counts, home_copy, "active.json") == 1, (page, counts)


def test_cli_listings_read_active_json_once(home_copy: Path) -> None:
    runner = CliRunner()
    for args in (["train", "runs"], ["train", "models"], ["train", "history"]):
        with opened_files() as counts:
            result = runner.invoke(cli_app, args)
        assert result.exit_code == 0, result.output
        assert _opens(counts, home_copy, "active.json") == 1, (args, counts)
