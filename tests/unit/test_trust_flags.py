"""Trust flags (core.report.flags, core.trends.flags) on hand-built runs: the noise-floor rule, the
pairwise noise flag of a run with repeats, a contaminated model from a hand-built probe run, an
uncalibrated judge per series, and how reports render them (table, markdown, json)."""

from __future__ import annotations

import json

import pytest
from noise_fixtures import F, P, repeated_run
from scoring_fixtures import new_db
from trends_fixtures import dataset, run

from core.common.stats import paired_mdd
from core.config.schema import WorkspaceConfig
from core.report.build import build_report
from core.report.flags import case_discordance, noise_floor, repeat_flip_rates, uncalibrated_by_series
from core.report.render import render
from core.report.types import ALL
from core.trends.alerts import assess
from core.trends.compare import compare_runs
from core.trends.flags import TrendKey, comparison_flags, flagged_assessment, trend_flags
from store import datasets as store_ds
from store import probes as store_probes
from store.db import write

CFG = WorkspaceConfig()


@pytest.fixture
def db(tmp_path):
    db = new_db(tmp_path)
    yield db
    db.close()


def probe(db, dataset_name: str, flagged: dict[str, int], cases: int = 12) -> str:
    """A finished contamination probe run of `dataset_name`: model m continues the first flagged[m]
    cases verbatim (ratio 1.0) and nothing else; every control continuation misses (ratio 0)."""
    ds = store_ds.dataset_id(db, dataset_name)
    version = next(iter(db.query("SELECT id, content_hash FROM dataset_versions WHERE dataset_id = ?", [ds])))
    run_id = store_probes.create_run(db, kind="contamination", dataset_id=ds, dataset_version_id=version["id"],
                                     dataset_hash=version["content_hash"], models=list(flagged),
                                     config={"split": 0.5, "threshold": 0.5, "ngram": 5, "cases": cases,
                                             "too_short": 0}, app_version="test")
    for model, hits in flagged.items():
        for i in range(cases):
            for kind, ratio in (("continue", 1.0 if i < hits else 0.0), ("control", 0.0)):
                store_probes.insert_result(db, {
                    "probe_run_id": run_id, "case_id": f"c{i:04d}", "model": model, "probe": kind, "status": "ok",
                    "output": "x", "target_tokens": 4, "longest_run_ratio": ratio, "cost_usd": 0.0,
                    "cost_status": "config"})
    store_probes.set_status(db, run_id, "finished")
    return run_id


def judged(db, run_id: str, model: str) -> None:
    """Make `model`'s score rows in `run_id` an LLM judge's verdicts (no expert grades: uncalibrated)."""
    with write(db):
        db.execute("UPDATE scores SET scorer = 'rubric', judge_model = 'judge-x', judge_prompt_hash = 'h1' "
                   "WHERE run_id = ? AND result_id IN (SELECT id FROM results WHERE model = ?)", [run_id, model])


# --- the rules ---------------------------------------------------------------------------------------


def test_noise_floor_rule():
    flag = noise_floor(0.02, 0.05, 0.1)
    assert flag is not None and flag.note == "below the noise floor (MDD 5.0 pts)" and flag.kind == "below_noise_floor"
    assert noise_floor(-0.02, 0.05, 0.1) is not None  # a drop is judged by its size
    assert noise_floor(-0.05, 0.05, 0.1) is None and noise_floor(0.08, 0.05, 0.1) is None
    assert noise_floor(0.0, None, 0.2).note == "below the noise floor (no drop detectable at this n)"
    assert noise_floor(None, 0.05, 0.1) is None  # no difference to qualify
    assert noise_floor(0.01, None, 0.0) is None  # no flip rate to judge by


def test_case_discordance():
    assert case_discordance([True, False, True]) == pytest.approx(2 / 3)
    assert case_discordance([True, False]) == 1.0 and case_discordance([False, False, False]) == 0.0


# --- reports -------------------------------------------------------------------------------------------


def test_report_flags_a_pairwise_difference_below_the_measured_noise_floor(db):
    v = dataset(db, 4)
    repeated_run(db, v, "r-rep", 3, {
        "A": {"c0000": [P, F, P], "c0001": [P, P, P], "c0002": [F, F, F], "c0003": [P, F, F]},
        "B": {"c0000": [P, P, P], "c0001": [P, P, P], "c0002": [F, F, F], "c0003": [F, F, F]},
    })
    report = build_report(db, "r-rep")
    rates = repeat_flip_rates(report.results)
    assert rates == {"A": pytest.approx((2 / 3 + 0 + 0 + 2 / 3) / 4), "B": 0.0}
    (c,) = report.pairwise
    assert c.pairs == 12 and c.pass_rate_diff == 0.0 and (c.a_only_passed, c.b_only_passed) == (1, 1)
    assumed = max(rates["A"], (c.a_only_passed + c.b_only_passed) / 12)
    assert c.noise_floor is not None and c.noise_floor.mdd == paired_mdd(12, assumed)
    assert c.noise_floor.flip_rate == pytest.approx(assumed)
    assert "below the noise floor" in render(report, "table")
    assert json.loads(render(report, "json"))["pairwise"][0]["noise_floor"]["kind"] == "below_noise_floor"


def test_single_repeat_report_has_no_noise_flag_and_no_contamination(db):
    v = dataset(db, 4)
    run(db, v, "r1", {"A": [True, True, False, False], "B": [True, False, False, False]})
    report = build_report(db, "r1")
    assert report.pairwise[0].noise_floor is None and report.contamination == []
    text = render(report, "table")
    assert "noise floor" not in text and "contaminat" not in text.lower()


def test_report_marks_the_model_the_probe_suspects(db):
    v = dataset(db, 12)
    run(db, v, "r1", {"A": [True] * 12, "B": [True] * 12})
    probe_id = probe(db, "ds", {"A": 12, "B": 1})  # A: 12/12 vs 0 control (p < 0.001); B: 1 vs 0 (p = 1)
    report = build_report(db, "r1")
    (flag,) = report.contamination
    assert (flag.model, flag.probe_run_id, flag.flagged_share, flag.control_share) == ("A", probe_id, 1.0, 0.0)
    assert flag.p_value < 0.001 and report.contaminated("B") is None

    table = render(report, "table")
    assert "CONTAMINATION suspected: A, see Contamination" in table
    assert "A (contaminated?)" in table and "B (contaminated?)" not in table
    row = next(line for line in table.splitlines() if line.startswith("A ") and probe_id in line)
    assert row.split() == ["A", probe_id, "v1", "12", "100%", "0%", "0.0005", "-", "-", "-"]
    assert flag.note.startswith(f"contaminated? probe {probe_id} (dataset v1): 100% of 12 inputs continued "
                                "verbatim vs 0% control (p <0.001)")
    markdown = render(report, "markdown")
    assert "## Contamination (the dataset's latest contamination probe)" in markdown
    assert "A (contaminated?)" in markdown
    data = json.loads(render(report, "json"))
    assert [c["model"] for c in data["contamination"]] == ["A"]
    assert list(data["contamination"][0]) == [
        "model", "dataset", "probe_run_id", "dataset_version", "cases", "flagged_share", "control_share", "p_value",
        "expected_share", "expected_chance_share", "expected_p_value", "kind"]


def test_an_unfinished_probe_flags_nothing(db):
    v = dataset(db, 12)
    run(db, v, "r1", {"A": [True] * 12})
    pid = probe(db, "ds", {"A": 12})
    with write(db):
        db.execute("UPDATE probe_runs SET status = 'interrupted' WHERE id = ?", [pid])
    assert build_report(db, "r1").contamination == []


# --- per series ------------------------------------------------------------------------------------------


def test_uncalibrated_judge_per_series(db):
    v = dataset(db, 4, task_types=("qa", "cls"))
    run(db, v, "r1", {"A": [True, False, True, False], "B": [True, True, True, True]})
    judged(db, "r1", "A")
    by_series = uncalibrated_by_series(db, CFG, "r1")
    assert set(by_series) == {("A", ALL), ("A", "qa"), ("A", "cls")}
    (j,) = by_series[("A", ALL)]
    assert (j.judge_model, j.scorer, j.calibrated) == ("judge-x", "rubric", False)
    assert j.reasons == ["only 0 expert-graded output(s), need 30"]
    assert uncalibrated_by_series(db, CFG, "r1").get(("B", ALL)) is None


def test_comparison_flags(db):
    v = dataset(db, 40)
    base = [i % 4 != 0 for i in range(40)]  # 30 of 40 pass
    cand = list(base)
    cand[1] = False  # one newly failing case: -2.5 pts on 40 matched, far below any MDD here
    run(db, v, "r-base", {"A": base, "B": base})
    run(db, v, "r-cand", {"A": cand, "B": base})
    judged(db, "r-cand", "A")
    probe(db, "ds", {"B": 12, "A": 0})
    comparison = compare_runs(db, "r-cand", "r-base")
    flags = comparison_flags(db, CFG, comparison)
    assert [(f.model, f.task_type) for f in flags] == [("A", ALL), ("B", ALL)]
    a, b = flags
    assert a.noise_floor is not None and a.noise_floor.difference == pytest.approx(-1 / 40)
    assert [j.judge_model for j in a.uncalibrated_judges] == ["judge-x"] and a.contamination == ()
    assert a.markers == ["uncalibrated judge", "below noise floor"]
    assert b.uncalibrated_judges == () and [c.model for c in b.contamination] == ["B"]
    assert b.noise_floor is not None and b.noise_floor.mdd is None  # no flip at all: no drop is detectable
    assert b.markers == ["below noise floor", "contaminated?"]
    assert any(n.startswith("B contaminated? probe ") for n in b.notes)

    data = flagged_assessment(assess(comparison, CFG.alerts), flags)
    assert list(data["series"][0]["flags"]) == ["model", "task_type", "uncalibrated_judges", "noise_floor",
                                                "contamination"]
    assert data["series"][0]["flags"]["uncalibrated_judges"][0]["judge_model"] == "judge-x"
    assert data["series"][1]["flags"]["contamination"][0]["probe_run_id"].startswith("p-")
    json.dumps(data)  # serialisable as it stands


def test_trend_flags_only_for_flagged_series(db):
    v = dataset(db, 12)
    run(db, v, "r1", {"A": [True] * 12, "B": [True] * 12, "C": [True] * 12})
    judged(db, "r1", "C")
    probe(db, "ds", {"A": 12})
    keys = [TrendKey("ds", m, ALL, "r1") for m in ("A", "B", "C")]
    flags = trend_flags(db, CFG, keys)
    assert set(flags) == {keys[0], keys[2]}
    assert flags[keys[0]].markers == ["contaminated?"]
    assert flags[keys[2]].markers == ["uncalibrated judge"]
