"""core.trends.compare + core.trends.alerts on real SQLite histories with exact verdict patterns
(the issue's "Done means"): a 3-point drop on 300 cases with random flips is within noise, a
consistent 10-point drop alerts, 20 series with one real drop alert exactly once after BH, too few
matched cases is insufficient data, missing never counts as passing; alerts are stored once,
acknowledged once, and sent once."""

from __future__ import annotations

import pytest
from scoring_fixtures import new_db
from trends_fixtures import base_pattern, dataset, flipped, run

from core.common.stats import mcnemar_exact, paired_cases_needed, paired_mdd
from core.config.schema import AlertsConfig, WorkspaceConfig
from core.errors import NotFoundError
from core.report.types import ALL
from core.trends.alerts import acknowledge_alert, assess, check_run, compare_and_assess, list_alerts
from core.trends.baselines import set_baseline
from core.trends.compare import CaseRef, compare_runs, compare_with_pinned

CFG = AlertsConfig()


def _one(assessment, model, task=ALL):
    return next(v for v in assessment.verdicts if v.series.model == model and v.series.task_type == task)


def test_random_three_point_drop_on_300_is_within_noise_and_a_consistent_ten_point_drop_alerts(tmp_path):
    db = new_db(tmp_path)
    v = dataset(db, 300)
    base = base_pattern(300, 0.85, seed=1)
    run(db, v, "r-base", {"noisy": base, "worse": base})
    run(db, v, "r-cand", {"noisy": flipped(base, 20, 11, seed=2), "worse": flipped(base, 30, 0, seed=3)})
    a = compare_and_assess(db, "r-cand", "r-base", CFG)
    noisy, worse = _one(a, "noisy"), _one(a, "worse")
    assert noisy.series.pass_rate_diff == pytest.approx(-0.03) and noisy.status == "within_noise"
    assert noisy.series.mcnemar_p == pytest.approx(mcnemar_exact(11, 20))
    assert noisy.series.flip_rate == pytest.approx(31 / 300)
    assert noisy.series.mdd == pytest.approx(paired_mdd(300, 31 / 300))
    assert noisy.series.cases_needed == paired_cases_needed(0.03, 31 / 300)
    assert "within noise" not in noisy.why and "not significant" in noisy.why
    assert worse.series.pass_rate_diff == pytest.approx(-0.10) and worse.status == "alert"
    assert len(worse.series.newly_failing) == 30 and worse.series.newly_passing == ()
    assert worse.series.pass_rate_diff_ci95[1] < 0 and a.tested == 2
    assert [s.status for s in a.verdicts] == ["within_noise", "alert"]


def test_twenty_series_with_one_real_drop_alert_exactly_once_after_bh(tmp_path):
    db = new_db(tmp_path)
    v = dataset(db, 300)
    models = [f"m{i:02d}" for i in range(20)]
    bases = {m: base_pattern(300, 0.8, seed=i) for i, m in enumerate(models)}
    run(db, v, "r-base", bases)
    cand = {m: flipped(p, 12, 12, seed=100 + i) for i, (m, p) in enumerate(bases.items())}  # pure noise
    cand["m07"] = flipped(bases["m07"], 36, 6, seed=7)  # a real 10-point drop
    # One noise series that alone would look significant (p < 0.05) but not after BH over 20.
    cand["m13"] = flipped(bases["m13"], 14, 4, seed=13)
    run(db, v, "r-cand", cand)
    a = compare_and_assess(db, "r-cand", "r-base", CFG)
    assert a.tested == 20
    assert _one(a, "m13").series.mcnemar_p < 0.05 and _one(a, "m13").q_value >= 0.05
    assert [x.series.model for x in a.alerts] == ["m07"]


def test_insufficient_data_below_min_matched_and_when_the_mdd_is_above_the_threshold(tmp_path):
    db = new_db(tmp_path)
    v = dataset(db, 29)
    run(db, v, "r-base", {"m": [True] * 29})
    run(db, v, "r-cand", {"m": [False] * 29})  # a 100-point drop on 29 cases: still too few
    (only,) = compare_and_assess(db, "r-cand", "r-base", CFG).verdicts
    assert only.status == "insufficient_data" and only.q_value is None
    assert "only 29 matched cases (< 30)" in only.why

    db2 = new_db(tmp_path / "two")
    v2 = dataset(db2, 100)
    base = base_pattern(100, 0.8, seed=5)
    run(db2, v2, "r-base", {"m": base})
    run(db2, v2, "r-cand", {"m": flipped(base, 5, 5, seed=6)})  # flat, 10% flips on 100 cases
    (flat,) = compare_and_assess(db2, "r-cand", "r-base", CFG).verdicts
    assert flat.series.mdd > 0.03 and flat.status == "insufficient_data"
    assert flat.series.cases_needed == paired_cases_needed(0.03, 0.1)
    assert f"≈{flat.series.cases_needed} matched cases would detect 3 pts" in flat.why


def test_ok_and_improved(tmp_path):
    db = new_db(tmp_path)
    v = dataset(db, 400)
    base = base_pattern(400, 0.7, seed=8)
    run(db, v, "r-base", {"same": base, "better": base})
    run(db, v, "r-cand", {"same": flipped(base, 2, 2, seed=9), "better": flipped(base, 0, 40, seed=10)})
    a = compare_and_assess(db, "r-cand", "r-base", CFG)
    assert _one(a, "same").status == "ok" and _one(a, "same").series.mdd <= 0.03
    assert _one(a, "better").status == "improved"


def test_missing_never_counts_as_passing(tmp_path):
    db = new_db(tmp_path)
    v = dataset(db, 100)
    run(db, v, "r-base", {"m": [True] * 100})
    # The candidate answered 60 cases (all passing) and has no row for 40 the baseline passed.
    run(db, v, "r-cand", {"m": [True] * 60 + [None] * 40})
    (s,) = compare_runs(db, "r-cand", "r-base").series
    assert (s.matched, s.missing, s.new) == (60, 40, 0)
    assert s.pass_rate_candidate == 1.0 and s.newly_failing == ()  # the 40 are not passes: left out, counted


def test_task_type_series_and_case_lists(tmp_path):
    db = new_db(tmp_path)
    v = dataset(db, 4, task_types=("qa", "classification"))
    run(db, v, "r-base", {"m": [True, True, False, True]})
    run(db, v, "r-cand", {"m": [False, True, True, True]})
    series = {s.task_type: s for s in compare_runs(db, "r-cand", "r-base").series}
    assert set(series) == {ALL, "qa", "classification"}
    assert series[ALL].newly_failing == (CaseRef("c0000", 0),) and series[ALL].newly_passing == (CaseRef("c0002", 0),)
    assert series["qa"].matched == 2 and series["qa"].newly_failing == (CaseRef("c0000", 0),)
    assert series["classification"].newly_failing == ()


def test_pinned_baselines_per_model(tmp_path):
    db = new_db(tmp_path)
    v = dataset(db, 50)
    run(db, v, "r-1", {"a": [True] * 50, "b": [True] * 50})
    run(db, v, "r-2", {"b": [False] * 50})
    run(db, v, "r-3", {"a": [True] * 50, "b": [True] * 50})
    with pytest.raises(NotFoundError, match="no baseline pinned"):
        compare_with_pinned(db, "r-3")
    set_baseline(db, "r-1", by="t")
    set_baseline(db, "r-2", model="b", by="t")  # b has its own pin
    c = compare_with_pinned(db, "r-3")
    assert [(s.model, s.baseline_run_id) for s in c.series] == [("a", "r-1"), ("b", "r-2")]
    assert set(c.baseline_run_ids) == {"r-1", "r-2"}


def test_check_run_stores_each_alert_once_and_acknowledges_once(tmp_path):
    db = new_db(tmp_path)
    v = dataset(db, 300)
    base = base_pattern(300, 0.85, seed=1)
    run(db, v, "r-base", {"m": base})
    run(db, v, "r-cand", {"m": flipped(base, 30, 0, seed=3)})
    set_baseline(db, "r-base", by="t")
    first = check_run(db, "r-cand", None, WorkspaceConfig())  # no webhooks configured: nothing sent
    assert [new for _, new in first.stored] == [True] and first.deliveries == ()
    again = check_run(db, "r-cand", "r-base", WorkspaceConfig())
    assert [new for _, new in again.stored] == [False]
    (alert,) = list_alerts(db)
    assert (alert.model, alert.task_type, alert.n_matched) == ("m", ALL, 300)
    assert alert.delta == pytest.approx(-0.1) and alert.ci95[1] < 0 and alert.q_value < 0.05
    done, changed = acknowledge_alert(db, alert.id, by="alice")
    assert changed and done.acknowledged_by == "alice"
    _, changed = acknowledge_alert(db, alert.id, by="bob")
    assert not changed and list_alerts(db) == [] and list_alerts(db, include_acknowledged=True)[0].acknowledged_by == "alice"
    with pytest.raises(NotFoundError):
        acknowledge_alert(db, 999, by="x")


def test_assess_uses_the_configured_rules(tmp_path):
    db = new_db(tmp_path)
    v = dataset(db, 300)
    base = base_pattern(300, 0.85, seed=1)
    run(db, v, "r-base", {"m": base})
    run(db, v, "r-cand", {"m": flipped(base, 30, 0, seed=3)})
    comparison = compare_runs(db, "r-cand", "r-base")
    assert assess(comparison, AlertsConfig(threshold_points=12)).verdicts[0].status == "ok"
    assert assess(comparison, AlertsConfig(min_matched=301)).verdicts[0].status == "insufficient_data"
