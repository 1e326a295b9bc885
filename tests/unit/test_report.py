"""Report figures on a hand-worked run (tests/unit/scoring_fixtures.build_qa_run)."""

from __future__ import annotations

import asyncio

import pytest
from scoring_fixtures import add_dataset, add_result, add_run, build_qa_run, new_db

from core.config.schema import parse_config
from core.errors import NotFoundError
from core.report.build import build_report, confusion, gate, latest_run_id
from core.report.types import ClassFigures, FieldAccuracy
from core.run.scoring import ScoringSession
from core.common.stats import wilson_interval


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    db = new_db(tmp_path_factory.mktemp("qa"))
    return build_report(db, build_qa_run(db))


def test_counts_and_pass_rates(report):
    a, b = report.figures("A"), report.figures("B")
    assert (a.n, a.ok, a.errors, a.skipped, a.scorer_errors, a.unscored) == (13, 12, 1, 0, 1, 1)
    assert (a.scored, a.passed, a.failed) == (10, 8, 2)
    assert a.pass_rate == 0.8
    assert a.pass_rate_ci95 == wilson_interval(8, 10)
    assert a.pass_rate_ci95 == pytest.approx((0.490162, 0.943318), abs=1e-6)
    assert a.pass_rate_incl_errors == pytest.approx(8 / 12)  # 10 scored + 1 error + 1 scorer error
    assert a.mean_score == 0.8
    assert (b.scored, b.passed, b.pass_rate, b.pass_rate_incl_errors) == (11, 4, 4 / 11, 4 / 12)
    assert report.task_types == ["qa"] and report.score_rounds == [1]
    assert report.figures("A", "qa") == a and report.figures("A", "other") is None


def test_latency_tokens_and_cost(report):
    a, b = report.figures("A"), report.figures("B")
    # A's ok, non-cached latencies: 10..100 (c0-c9) and 1000 (c12); c11 was cached.
    assert a.latency_n == 11 and a.cached == 1
    assert a.latency_p50_ms == 60.0
    assert a.latency_p95_ms == pytest.approx(550.0)  # type 7: 100 + 0.5 * (1000 - 100)
    assert (a.input_tokens, a.output_tokens) == (120, 60)  # 12 ok rows x 10 / 5; the error had none
    assert a.cost_status == "known" and a.cost_usd == pytest.approx(0.012)
    assert a.cost_per_case == pytest.approx(0.001)
    assert a.cost_per_correct == pytest.approx(0.012 / 8)
    assert b.cost_status == "partial" and b.cost_unknown_results == 1
    assert b.cost_usd == pytest.approx(0.012)  # 12 known of 13 ok rows: a lower bound
    assert b.judge_cost_usd is None and b.judge_cost_status == "none"


def test_pairwise_mcnemar_and_bootstrap(report):
    (pair,) = report.pairwise
    assert (pair.a, pair.b, pair.pairs) == ("A", "B", 10)  # c10 (A errored) and c11/c12 left out
    assert (pair.a_only_passed, pair.b_only_passed) == (6, 1)
    assert pair.mcnemar_p == 0.125  # 2 * (1 + 7) / 2^7
    assert pair.pass_rate_diff == pytest.approx(0.8 - 0.3)
    assert pair.score_diff == pytest.approx(0.5)
    low, high = pair.score_diff_ci95
    assert low < 0.5 < high and low >= -1 and high <= 1
    assert pair.verdict == "no significant difference"


def test_verdict_when_significant(tmp_path):
    db = new_db(tmp_path)
    cases = [{"id": f"c{i}", "input_text": f"q{i}", "expected_output": "yes", "task_type": "qa"} for i in range(8)]
    add_run(db, add_dataset(db, cases), ["A", "B"], run_id="r-sig")

    async def go():
        s = ScoringSession(db, parse_config({}), "r-sig")
        for c in cases:
            await s.score(c, add_result(db, "r-sig", c["id"], "A", output="no"))
            await s.score(c, add_result(db, "r-sig", c["id"], "B", output="yes"))
    asyncio.run(go())
    (pair,) = build_report(db, "r-sig").pairwise
    assert pair.mcnemar_p == pytest.approx(2 / 2 ** 8)  # b=0, c=8
    assert pair.verdict == "B better"


def test_no_pairs_is_not_no_difference():
    """Every call of one model failed: nothing was compared, and the verdict says so."""
    from core.report.build import compare_pairs

    none = compare_pairs("A", "B", [])
    assert (none.pairs, none.verdict) == (0, "no graded pairs to compare")
    one = compare_pairs("A", "B", [((True, 1.0), (True, 1.0))])
    assert one.verdict == "no significant difference"


def test_confusion_matrix_hand_worked():
    def row(expected, predicted, valid=True):
        return {"status": "ok", "details": {"expected": expected, "predicted": predicted, "valid_label": valid}}

    rows = [row("billing", "billing"), row("billing", "billing"), row("billing", "tech"),
            row("tech", "tech"), row("tech", "refund", False), row("cancel", "billing")]
    m = confusion(rows, ["billing", "tech", "cancel"])
    assert m.columns == ["billing", "tech", "cancel", "(invalid)"]
    assert m.matrix["billing"] == {"billing": 2, "tech": 1, "cancel": 0, "(invalid)": 0}
    assert m.matrix["tech"] == {"billing": 0, "tech": 1, "cancel": 0, "(invalid)": 1}
    assert m.invalid == 1 and m.n == 6
    billing = m.per_class["billing"]
    assert (billing.support, billing.precision, billing.recall) == (3, 2 / 3, 2 / 3)
    assert billing.f1 == pytest.approx(2 / 3)
    assert m.per_class["tech"] == ClassFigures(support=2, precision=0.5, recall=0.5, f1=0.5)
    assert m.per_class["cancel"] == ClassFigures(support=1, precision=None, recall=0.0, f1=None)


def test_field_accuracy_and_confusion_in_a_report(tmp_path):
    db = new_db(tmp_path)
    cases = [
        {"id": "x0", "input_text": "doc 0", "task_type": "extraction", "expected_output": {"a": 1, "b": "x"}},
        {"id": "x1", "input_text": "doc 1", "task_type": "extraction", "expected_output": {"a": 2, "b": "y"}},
        {"id": "k0", "input_text": "ticket 0", "task_type": "classification", "expected_output": "billing"},
        {"id": "k1", "input_text": "ticket 1", "task_type": "classification", "expected_output": "tech"},
    ]
    add_run(db, add_dataset(db, cases), ["A"], run_id="r-mix")
    cfg = parse_config({"tasks": {"classification": {"kind": "classification", "labels": ["billing", "tech"]}}})
    outputs = {"x0": '{"a": 1, "b": "z"}', "x1": '{"a": "2"}', "k0": "Billing.", "k1": "refund"}

    async def go():
        s = ScoringSession(db, cfg, "r-mix")
        for c in cases:
            await s.score(c, add_result(db, "r-mix", c["id"], "A", output=outputs[c["id"]]))
    asyncio.run(go())
    rep = build_report(db, "r-mix", cfg)
    acc = rep.field_accuracy["A"]["extraction"]
    assert acc["a"] == FieldAccuracy(n=2, match=2, wrong=0, missing=0, extra=0, accuracy=1.0)
    assert acc["b"] == FieldAccuracy(n=2, match=0, wrong=1, missing=1, extra=0, accuracy=0.0)
    m = rep.confusion["A"]["classification"]
    assert m.matrix == {"billing": {"billing": 1, "tech": 0, "(invalid)": 0},
                        "tech": {"billing": 0, "tech": 0, "(invalid)": 1}}
    assert set(rep.summary["A"]) == {"(all)", "classification", "extraction"}
    assert rep.figures("A", "classification").passed == 1
    # The JSON shape of both (`assay report --format json`).
    data = rep.to_dict()
    assert data["field_accuracy"]["A"]["extraction"]["b"] == {"n": 2, "match": 0, "wrong": 1, "missing": 1,
                                                              "extra": 0, "accuracy": 0.0}
    assert list(data["confusion"]["A"]["classification"]) == ["labels", "columns", "matrix", "per_class", "invalid", "n"]
    assert data["confusion"]["A"]["classification"]["per_class"]["tech"] == {"support": 1, "precision": None,
                                                                             "recall": 0.0, "f1": None}


def test_latest_round_is_used(tmp_path):
    db = new_db(tmp_path)
    run_id = build_qa_run(db)
    from core.run.scoring import arescore

    asyncio.run(arescore(db, parse_config({"scorers": {"qa": {"type": "contains", "value": "answer"}}}), run_id))
    rep = build_report(db, run_id)
    a = rep.figures("A")
    assert rep.score_rounds == [2]
    # Now "answer N" passes everywhere, unlabeled c11 is scored, wrong answers fail.
    assert (a.scored, a.passed, a.unscored) == (11, 9, 0)


def test_gate_and_latest(report, tmp_path):
    assert gate(report, 0.6, "A") == []
    assert gate(report, 0.7, "A") == ["A: pass rate incl. errors 0.6667 < 0.7"]
    assert [f.split(":")[0] for f in gate(report, 0.5)] == ["B"]
    with pytest.raises(NotFoundError):
        gate(report, 0.5, "nobody")
    db = new_db(tmp_path)
    with pytest.raises(NotFoundError):
        latest_run_id(db)
    with pytest.raises(NotFoundError):
        build_report(db, "r-missing")
