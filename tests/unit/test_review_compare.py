"""core.review.compare: the report's figures per model x task type, and paired verdicts (the
report's own McNemar + bootstrap) between two models or against a baseline, with matched /
missing / new counts."""

from __future__ import annotations

from scoring_fixtures import add_run, build_qa_run, new_db

from core.report.build import build_report
from core.report.types import ALL
from core.review.cases import ScoredMark, build_index
from core.review.compare import comparison_table, pair_verdict, paired_verdicts


def test_table_rows_are_the_reports_figures(tmp_path):
    db = new_db(tmp_path)
    build_qa_run(db)
    table = comparison_table(db, "r-qa")
    report = build_report(db, "r-qa")
    assert [(r.model, r.task_type) for r in table.rows] == [("A", ALL), ("B", ALL)]  # one task type: no split
    assert table.rows[0].figures == report.figures("A") and table.overrides == 0


def test_a_against_b_is_the_reports_pairwise_comparison(tmp_path):
    db = new_db(tmp_path)
    build_qa_run(db)
    (verdict,) = paired_verdicts(db, build_index(db, "r-qa"))
    assert verdict.comparison == build_report(db, "r-qa").pairwise[0]
    assert (verdict.matched, verdict.missing, verdict.new, verdict.ungraded) == (10, 0, 0, 3)
    assert not verdict.against_baseline


def test_missing_answers_are_counted_never_passed():
    def marks(spec):
        return {(cid, 0): ScoredMark(v, 1.0 if v == "pass" else 0.0, False, i) for i, (cid, v) in enumerate(spec)}

    base = marks([("c1", "pass"), ("c2", "pass"), ("c3", "pass"), ("c4", "fail")])
    now = marks([("c1", "pass"), ("c2", "fail"), ("c4", "error"), ("c5", "pass")])
    v = pair_verdict("m", "m (baseline)", now, base, against_baseline=True)
    assert (v.matched, v.missing, v.new, v.ungraded) == (2, 1, 1, 1)  # c3 missing, c5 new, c4 not graded now
    assert v.comparison.pass_rate_a == 0.5 and v.comparison.pass_rate_b == 1.0


def test_against_a_baseline_model_by_model(tmp_path):
    db = new_db(tmp_path)
    build_qa_run(db)
    vid = db.execute("SELECT dataset_version_id FROM runs WHERE id = 'r-qa'").fetchone()[0]
    add_run(db, vid, ["A"], run_id="r-base")  # a baseline without results: everything is new
    verdicts = paired_verdicts(db, build_index(db, "r-qa", baseline="r-base"))
    assert [(v.a, v.b, v.matched, v.new, v.missing) for v in verdicts] == [("A", "A (baseline)", 0, 13, 0)]
    assert verdicts[0].comparison.verdict == "no graded pairs to compare"  # nothing matched: nothing compared
