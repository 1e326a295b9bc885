"""core.trends.noise on hand-built runs with repeats: exact flip shares, discordance, score SDs and
MDDs worked out by hand (the formulas are in the module docstring)."""

from __future__ import annotations

import math
import statistics

import pytest
from noise_fixtures import F, P, repeated_run
from scoring_fixtures import add_dataset, new_db

from core.common.stats import paired_bootstrap, paired_mdd, wilson_interval
from core.errors import NotFoundError, UsageError
from core.report.types import ALL
from core.review.overrides import override_verdict
from core.trends.noise import measured_flip_rate, measured_flip_rates, noise_report


@pytest.fixture
def db(tmp_path):
    db = new_db(tmp_path)
    yield db
    db.close()


def _hand_run(db) -> dict:
    cases = [{"id": f"c{i}", "input_text": f"q{i}", "expected_output": f"a{i}",
              "task_type": "qa" if i < 3 else "classification"} for i in range(5)]
    v = add_dataset(db, cases)
    return repeated_run(db, v, "r-rep", 3, {"A": {
        "c0": [(True, 0.9), (True, 1.0), (True, 0.8)],  # agree; score SD 0.1
        "c1": [P, F, P],                                 # flips; discordance 2*2*1/(3*2) = 2/3
        "c2": [F, F, F],                                 # agree
        "c3": [P, F, None],                              # two graded repeats, flip; discordance 1
        "c4": [P, None, None],                           # one graded repeat: too few
    }})


def test_hand_worked_figures(db):
    _hand_run(db)
    report = noise_report(db, "r-rep")
    assert (report.run_id, report.dataset, report.repeats) == ("r-rep", "ds", 3)
    assert report.task_types == ("classification", "qa")
    assert [(s.model, s.task_type) for s in report.series] == [("A", ALL), ("A", "classification"), ("A", "qa")]
    s = report.figures("A")
    assert (s.results, s.ungraded, s.cases, s.cases_too_few, s.flipped_cases) == (15, 3, 4, 1, 2)
    assert s.flip_share == 0.5 and s.flip_share_ci95 == wilson_interval(2, 4)
    assert s.discordance == pytest.approx((0 + 2 / 3 + 0 + 1) / 4)
    assert s.discordance_ci95 == (lambda b: (b.low, b.high))(paired_bootstrap([0.0, 2 / 3, 0.0, 1.0]))
    assert s.mdd is None  # 4 cases cannot detect any drop
    sds = [0.1, math.sqrt(1 / 3), 0.0, math.sqrt(0.5)]
    assert s.score_cases == 4 and s.score_sd == pytest.approx(sum(sds) / 4)
    assert statistics.stdev([0.9, 1.0, 0.8]) == pytest.approx(0.1)
    lo, hi = s.score_sd_ci95
    assert 0 <= lo <= s.score_sd <= hi <= math.sqrt(0.5)

    qa = report.figures("A", "qa")
    assert (qa.results, qa.ungraded, qa.cases, qa.cases_too_few, qa.flipped_cases) == (9, 0, 3, 0, 1)
    assert qa.flip_share == pytest.approx(1 / 3) and qa.discordance == pytest.approx(2 / 9)
    cls = report.figures("A", "classification")
    assert (cls.results, cls.ungraded, cls.cases, cls.cases_too_few, cls.flipped_cases) == (6, 3, 1, 1, 1)
    assert cls.flip_share == 1.0 and cls.discordance == 1.0 and cls.score_sd == pytest.approx(math.sqrt(0.5))

    assert measured_flip_rate(db, "r-rep", "A") == pytest.approx(5 / 12)
    assert measured_flip_rate(db, "r-rep", "A", "qa") == pytest.approx(2 / 9)
    assert measured_flip_rate(db, "r-rep", "nobody") is None
    d = report.to_dict()
    assert list(d) == ["run_id", "dataset", "repeats", "task_types", "series"]
    assert list(d["series"][0]) == [
        "model", "task_type", "results", "ungraded", "cases", "cases_too_few", "flipped_cases", "flip_share",
        "flip_share_ci95", "discordance", "discordance_ci95", "mdd", "score_cases", "score_sd", "score_sd_ci95"]


def test_human_override_counts(db):
    ids = _hand_run(db)
    # c1's failing repeat judged a pass by a reviewer: c1 no longer flips.
    override_verdict(db, ids[("A", "c1", 1)], passed=True, reason="synonym", annotator="ann")
    s = noise_report(db, "r-rep").figures("A")
    assert s.flipped_cases == 1 and s.discordance == pytest.approx(1 / 4)


def test_mdd_at_the_runs_n(db):
    """300 cases x 2 repeats, 30 of them flipping: discordance 0.1, MDD as paired_mdd says (≈5 points,
    DESIGN.md's paired figure at n = 300 and 10% flips)."""
    v = add_dataset(db, [{"id": f"c{i:03d}", "input_text": f"q{i}", "expected_output": "a", "task_type": "qa"}
                         for i in range(300)])
    repeated_run(db, v, "r-300", 2, {"M": {f"c{i:03d}": ([P, F] if i < 30 else [P, P] if i % 2 else [F, F])
                                   for i in range(300)}})
    s = noise_report(db, "r-300").figures("M")
    assert (s.cases, s.flipped_cases, s.flip_share, s.discordance) == (300, 30, 0.1, 0.1)
    assert s.mdd == paired_mdd(300, 0.1) and 0.045 < s.mdd < 0.06
    # One task type: the run's figures answer for it and for ALL, and there is one series per model.
    assert [x.task_type for x in noise_report(db, "r-300").series] == [ALL]
    assert noise_report(db, "r-300").figures("M", "qa") == s
    assert measured_flip_rates(db, "r-300") == {("M", ALL): 0.1, ("M", "qa"): 0.1}


def test_no_flips_and_identical_scores(db):
    v = add_dataset(db, [{"id": "c0", "input_text": "q", "expected_output": "a"}])
    repeated_run(db, v, "r-still", 4, {"M": {"c0": [P, P, P, P]}})
    s = noise_report(db, "r-still").figures("M")
    assert (s.flip_share, s.discordance, s.mdd, s.score_sd, s.score_sd_ci95) == (0.0, 0.0, None, 0.0, (0.0, 0.0))
    assert measured_flip_rate(db, "r-still", "M") == 0.0


def test_single_repeat_run_is_refused_and_measures_nothing(db):
    v = add_dataset(db, [{"id": "c0", "input_text": "q", "expected_output": "a"}])
    repeated_run(db, v, "r-one", 1, {"M": {"c0": [P]}})
    with pytest.raises(UsageError, match="--repeat 1"):
        noise_report(db, "r-one")
    assert measured_flip_rate(db, "r-one", "M") is None and measured_flip_rates(db, "r-one") == {}
    with pytest.raises(NotFoundError):
        noise_report(db, "r-nope")


def test_all_ungraded(db):
    v = add_dataset(db, [{"id": "c0", "input_text": "q", "expected_output": "a"}])
    repeated_run(db, v, "r-err", 2, {"M": {"c0": [None, None]}})
    s = noise_report(db, "r-err").figures("M")
    assert (s.results, s.ungraded, s.cases, s.cases_too_few) == (2, 2, 0, 1)
    assert (s.flip_share, s.flip_share_ci95, s.discordance, s.mdd, s.score_sd) == (None, None, None, None, None)
    assert measured_flip_rate(db, "r-err", "M") is None


def test_the_comparison_assumes_the_measured_flip_rate(db):
    """Two runs with 2 repeats each, identical verdicts: the runs show no flip between them, but 30 of
    300 cases flip between repeats (discordance 0.1), so the MDD assumes a 10% flip rate, not the
    3-point floor; runs without repeats keep the floor."""
    from core.config.schema import AlertsConfig
    from core.trends.alerts import compare_and_assess

    v = add_dataset(db, [{"id": f"c{i:03d}", "input_text": f"q{i}", "expected_output": "a", "task_type": "qa"}
                         for i in range(300)])
    cells = {f"c{i:03d}": ([P, F] if i < 30 else [P, P]) for i in range(300)}
    repeated_run(db, v, "r-base", 2, {"M": cells})
    repeated_run(db, v, "r-cand", 2, {"M": cells})
    [s] = compare_and_assess(db, "r-cand", "r-base", AlertsConfig()).comparison.series
    assert (s.matched, s.flip_rate, s.mdd_flip_rate) == (600, 0.0, 0.1)
    assert s.mdd == paired_mdd(600, 0.1)

    once = {f"c{i:03d}": [P] for i in range(300)}
    repeated_run(db, v, "r-one-a", 1, {"M": once})
    repeated_run(db, v, "r-one-b", 1, {"M": once})
    [s] = compare_and_assess(db, "r-one-b", "r-one-a", AlertsConfig()).comparison.series
    assert (s.matched, s.flip_rate, s.mdd_flip_rate) == (300, 0.0, 0.03)
