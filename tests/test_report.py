"""The self-contained HTML report of one run."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime

import pytest

from taskclf_core.console.read import review as review_model
from taskclf_core.console.read.review import RunReview
from taskclf_core.console.reports import report
from taskclf_core.paths import Home
from tests.conftest import SeededHome

XMLNS = re.compile(r'xmlns(:\w+)?="http://www\.w3\.org/[^"]*"')


@pytest.fixture(scope="module")
def review(seeded_home: SeededHome) -> RunReview:
    return review_model.run_review(Home.resolve(seeded_home.root), seeded_home.awaiting)


@pytest.fixture(scope="module")
def html(review: RunReview) -> str:
    return report.render_report(review, generated_at=datetime(2026, 11, 26, 12, 0, tzinfo=UTC))


def test_report_is_self_contained(html: str) -> None:
    assert html.startswith("<!DOCTYPE html>")
    body = XMLNS.sub("", html)
    assert "http://" not in body and "https://" not in body and "//cdn" not in body
    assert "<script" not in body and "<link" not in body and "<img" not in body
    assert not re.search(r'\bsrc\s*=', body)
    assert not re.search(r'href="[^#]', body)  # only references inside the document
    assert "@import" not in body and not re.search(r"url\([^#]", body)
    ids = re.findall(r'\bid="([^"]+)"', body)
    assert len(ids) == len(set(ids))  # the inline SVGs do not clash


def test_report_holds_headline_gates_and_every_chart(html: str, review: RunReview, seeded_home: SeededHome) -> None:
    assert f"<title>taskclf review: run {seeded_home.awaiting}</title>" in html
    assert '<span class="outcome awaiting_signoff">awaiting_signoff</span>' in html
    assert f"<td>{seeded_home.champion}</td>" in html  # champion compared against
    assert html.count("<svg") >= 5
    for name in ("metrics", "per_class", "confusion", "bootstrap", "per_user"):
        assert f'id="chart-{name}"' in html
    gate_names = re.findall(r"<tr><td>([a-z_0-9]+)</td><td>(candidate|baseline|comparative)</td>", html)
    assert [g for g, _ in gate_names] == [g.name for g in review.gates]
    assert "95% Wilson CI" in html and "paired bootstrap interval" in html
    assert "Generated 2026-11-26 12:00 UTC" in html  # the one time format (issue 21 item 11)


def test_report_escapes_text_from_the_run(review: RunReview) -> None:
    evil = "<script>alert('x')</script> & <b>bold</b>"
    tampered = dataclasses.replace(review, decision=review.decision.model_copy(update={"reason": evil}))
    html = report.render_report(tampered)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html


def test_report_file_name() -> None:
    assert report.report_file_name("20261126T052430123456Z-a1b2c3") == "taskclf-review-20261126T052430123456Z-a1b2c3.html"
