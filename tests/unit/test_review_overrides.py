"""Human verdict overrides: append-only, reason required, counted by every report figure."""

from __future__ import annotations

import pytest
from scoring_fixtures import build_qa_run, new_db

from core.errors import UsageError
from core.report.build import build_report
from core.report.render import render_json, render_table
from core.review.overrides import override_verdict


def _result(report, case_id, model):
    return next(e for e in report.results if e.case_id == case_id and e.model == model)


def test_an_override_changes_the_verdict_and_every_figure(tmp_path):
    db = new_db(tmp_path)
    run_id = build_qa_run(db)
    before = build_report(db, run_id)
    failing = _result(before, "c8", "A")  # A fails c8; B passes it
    assert failing.verdict == "fail" and before.figures("A").passed == 8

    after_one = override_verdict(db, failing.result_id, passed=True, reason="synonym of the expected answer",
                                 annotator="ana")
    assert after_one.verdict == "pass" and after_one.scored_verdict == "fail" and after_one.score == 1.0
    assert after_one.override.annotator == "ana" and after_one.override.replaces == "fail"

    report = build_report(db, run_id)
    a = report.figures("A")
    assert (a.passed, a.failed, a.pass_rate) == (9, 1, 0.9)
    assert report.overrides == 1
    (pair,) = report.pairwise
    assert (pair.a_only_passed, pair.b_only_passed) == (6, 0)  # c8 is no longer B-only
    assert "1 verdict(s) are human overrides" in render_table(report).splitlines()[0]
    assert '"overrides": 1' in render_json(report)

    # Append-only: a second override wins, both rows stay; it replaces the verdict then in force.
    again = override_verdict(db, failing.result_id, passed=False, reason="on reflection, wrong",
                             annotator="bo")
    assert again.verdict == "fail" and again.override.replaces == "pass"
    assert db.execute("SELECT COUNT(*) FROM verdict_overrides").fetchone()[0] == 2
    assert build_report(db, run_id).figures("A").passed == 8


@pytest.mark.parametrize("case_id, reason, annotator, message", [
    ("c8", "   ", "ana", "needs a reason"),
    ("c8", "ok", " ", "reviewer's name"),
    ("c10", "no answer", "ana", "is a call error"),  # A's call errored: nothing to judge
])
def test_bad_overrides_are_refused_and_write_nothing(tmp_path, case_id, reason, annotator, message):
    db = new_db(tmp_path)
    report = build_report(db, build_qa_run(db))
    with pytest.raises(UsageError, match=message):
        override_verdict(db, _result(report, case_id, "A").result_id, passed=True, reason=reason, annotator=annotator)
    assert db.execute("SELECT COUNT(*) FROM verdict_overrides").fetchone()[0] == 0
