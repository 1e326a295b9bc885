"""core.review.cases on the hand-worked qa run (tests/unit/scoring_fixtures.py): classes, counts,
filters, keyset pages, and a baseline run on the same dataset."""

from __future__ import annotations

import pytest
from scoring_fixtures import PASS_A, add_result, add_run, build_qa_run, new_db

from core.errors import UsageError
from core.report.build import build_report
from core.review.cases import CaseQuery, build_index, class_counts, page, search_ids, with_models
from core.review.overrides import override_verdict


@pytest.fixture
def db(tmp_path):
    db = new_db(tmp_path)
    build_qa_run(db)
    return db


def classes(index, case_id):
    return set(next(e for e in index.entries if e.case_id == case_id).classes)


def test_every_case_is_classed_by_what_happened(db):
    index = build_index(db, "r-qa")
    assert index.models == ("A", "B") and (index.a, index.b) == ("A", "B")
    assert [e.case_id for e in index.entries] == [f"c{i}" for i in range(13)]  # case order, not id order
    assert classes(index, "c0") == {"all_pass"}
    assert classes(index, "c2") == {"disagree", "a_only"}
    assert classes(index, "c8") == {"disagree", "b_only"}
    assert classes(index, "c9") == {"all_fail"}
    assert classes(index, "c10") == {"call_error", "b_only"}
    assert classes(index, "c11") == {"unscored"}
    assert classes(index, "c12") == {"scorer_error"}
    counts = class_counts(index)
    assert counts["disagree"] == 7 and counts["a_only"] == 6 and counts["b_only"] == 2
    assert counts["all_pass"] == 2 and counts["regressed"] == counts["missing"] == 0


def test_verdicts_match_the_report(db):
    report = build_report(db, "r-qa")
    index = build_index(db, "r-qa")
    by_key = {(e.case_id, m): mark.verdict for e in index.entries for m, mark in zip(index.models, e.marks)}
    assert by_key == {(r.case_id, r.model): r.verdict for r in report.results}


def test_swapping_a_and_b_swaps_their_classes(db):
    swapped = with_models(build_index(db, "r-qa"), "B", "A")
    assert "b_only" in classes(swapped, "c2") and "a_only" in classes(swapped, "c8")
    with pytest.raises(UsageError):
        build_index(db, "r-qa", a="C")


def test_keyset_pages_filters_and_search(db):
    index = build_index(db, "r-qa")
    first = page(db, index, CaseQuery(cls="disagree"), limit=4)
    assert [r.entry.case_id for r in first.rows] == ["c2", "c3", "c4", "c5"]
    assert first.total == 7 and first.has_next and not first.has_prev and first.rows[0].preview == "question 2"
    second = page(db, index, CaseQuery(cls="disagree"), after=first.rows[-1].entry.key, limit=4)
    assert [r.entry.case_id for r in second.rows] == ["c6", "c7", "c8"] and second.has_prev and not second.has_next
    back = page(db, index, CaseQuery(cls="disagree"), before=second.rows[0].entry.key, limit=4)
    assert [r.entry.case_id for r in back.rows] == ["c2", "c3", "c4", "c5"]
    jump = page(db, index, CaseQuery(), at=index.entries[index.position("c11")].key, limit=4)
    assert [r.entry.case_id for r in jump.rows] == ["c11", "c12"] and jump.first == 11
    hits = search_ids(db, index, "question 1")  # c1, c10 by input
    assert hits == {"c1", "c10"}
    assert [r.entry.case_id for r in page(db, index, CaseQuery(text_ids=hits, cls="b_only")).rows] == ["c10"]
    assert search_ids(db, index, "wrong") == {f"c{i}" for i in range(10) if not PASS_A[i]} | {"c2", "c3", "c4", "c5",
                                                                                              "c6", "c7", "c9"}
    assert search_ids(db, index, "  ") is None
    assert page(db, index, CaseQuery(task_type="qa", difficulty="hard")).total == 0


def test_override_is_its_own_class_and_changes_the_verdict(db):
    index = build_index(db, "r-qa")
    rid = next(r.result_id for r in build_report(db, "r-qa").results if (r.case_id, r.model) == ("c9", "B"))
    override_verdict(db, rid, passed=True, reason="the answer is right", annotator="ana")
    after = build_index(db, "r-qa")
    assert classes(index, "c9") == {"all_fail"}
    assert classes(after, "c9") == {"overridden", "disagree", "b_only"}


def test_baseline_regressions_improvements_and_missing(db):
    # A baseline on the same dataset version: A passed c0-c9 (so c8, c9 regressed for A), B passed
    # c1-c9 and failed c0 (c0 improved for B; c2-c7 and c9 regressed for B).
    vid = db.execute("SELECT dataset_version_id FROM runs WHERE id = 'r-qa'").fetchone()[0]
    add_run(db, vid, ["A", "B"], run_id="r-base")
    from core.config.schema import WorkspaceConfig
    from core.run.scoring import ScoringSession
    import asyncio

    session = ScoringSession(db, WorkspaceConfig(), "r-base")

    async def go():
        for i in range(10):
            for model, right in (("A", True), ("B", i != 0)):
                row = add_result(db, "r-base", f"c{i}", model, output=f"answer {i}" if right else "no")
                await session.score({"id": f"c{i}", "input_text": "", "expected_output": f"answer {i}",
                                     "task_type": "qa", "metadata": {}}, row)
        await session.aclose()

    asyncio.run(go())
    # The candidate lost c1's answer for B (deleted here to stand for an interrupted run).
    db.execute("DELETE FROM scores WHERE result_id IN (SELECT id FROM results WHERE run_id = 'r-qa' "
               "AND case_id = 'c1' AND model = 'B')")
    db.execute("DELETE FROM results WHERE run_id = 'r-qa' AND case_id = 'c1' AND model = 'B'")
    db.conn.commit()
    index = build_index(db, "r-qa", baseline="r-base")
    assert index.baseline_pairs == (("A", "A"), ("B", "B"))
    assert "regressed" in classes(index, "c8") and "regressed" in classes(index, "c9")  # A: pass -> fail
    assert classes(index, "c0") == {"all_pass", "improved"}
    assert {"regressed", "missing"} <= classes(index, "c1")  # B passed in the baseline, no answer now
    assert "all_pass" not in classes(index, "c1")
    assert "improved" not in classes(index, "c2")
    counts = class_counts(index)
    assert counts["missing"] == 1
    assert page(db, index, CaseQuery(cls="regressed")).total == counts["regressed"]
    with pytest.raises(UsageError):
        build_index(db, "r-qa", baseline="r-qa")
    build_qa_run(db, "r-other")  # its own dataset
    with pytest.raises(UsageError, match="not 'qa-r-qa'"):
        build_index(db, "r-qa", baseline="r-other")
