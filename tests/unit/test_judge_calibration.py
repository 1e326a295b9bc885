"""Judge calibration figures: Cohen's kappa and its CI against published worked examples, the
expert-grade mapping, the stratified sample and the calibrated/uncalibrated rule (no database)."""

from __future__ import annotations

import pytest

from core.common.stats import kappa_estimate
from core.config.schema import parse_config
from core.labeling.agreement import cohen_kappa
from core.labeling.calibration import ExpertGrade, JudgedOutput, JudgeKey, calibrate_group, expert_passed
from core.labeling.judge_sample import grade_input, stratified

# SAS/STAT User's Guide, PROC FREQ "Tests and Measures of Agreement" (simple kappa with the
# Fleiss, Cohen & Everitt 1969 asymptotic standard error, "ASE"), the printed outputs of two
# worked examples: a 3x3 table from the SAS documentation as reproduced by J. Uebersax
# (john-uebersax.com/stat/saskappa.htm), and a second SAS printout (both reproduced in statsmodels'
# test_inter_rater.py). Figures to the 4 decimals SAS prints.
SAS_EXAMPLES = [
    # table, kappa, ASE, 95% low, 95% high, ASE under H0 (None: not printed)
    ([[0, 0, 0], [5, 16, 3], [8, 12, 28]], 0.3333, 0.0814, 0.1738, 0.4929, None),
    ([[0, 4, 1], [0, 8, 0], [0, 1, 5]], 0.4842, 0.1380, 0.2137, 0.7547, 0.1484),
]


@pytest.mark.parametrize("table, kappa, se, low, high, se0", SAS_EXAMPLES)
def test_kappa_and_its_ci_match_sas_printouts(table, kappa, se, low, high, se0):
    est = kappa_estimate(table)
    assert est.kappa == pytest.approx(kappa, abs=5e-5)
    assert est.se == pytest.approx(se, abs=5e-5)
    assert est.ci95 == pytest.approx((low, high), abs=5e-5)
    if se0 is not None:
        assert est.se0 == pytest.approx(se0, abs=5e-5)


def test_two_by_two_textbook_example():
    # Wikipedia "Cohen's kappa", worked example: 50 grant proposals read by two readers,
    # Yes/Yes 20, Yes/No 5, No/Yes 10, No/No 15 -> p_o 0.7, p_e 0.5, kappa 0.4.
    est = kappa_estimate([[20, 5], [10, 15]])
    assert (est.n, est.p_observed, est.p_expected) == (50, pytest.approx(0.7), pytest.approx(0.5))
    assert est.kappa == pytest.approx(0.4)
    # The same kappa as the label-agreement code computes from raw ratings.
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(est.kappa)
    # Under H0 the SE has the closed form sqrt(p_e + p_e^2 - sum p_i.p_.i(p_i.+p_.i)) / ((1-p_e) sqrt(n)).
    assert est.se0 == pytest.approx((0.5 + 0.25 - (0.5 * 0.6 * 1.1 + 0.5 * 0.4 * 0.9)) ** 0.5 / (0.5 * 50 ** 0.5))


def test_kappa_edge_cases():
    assert kappa_estimate([[0, 0], [0, 0]]) is None
    one_category = kappa_estimate([[7, 0], [0, 0]])
    assert one_category.kappa is None and one_category.ci95 is None and one_category.p_observed == 1
    perfect = kappa_estimate([[6, 0], [0, 4]])
    assert perfect.kappa == pytest.approx(1.0) and perfect.se == pytest.approx(0.0, abs=1e-12)
    assert perfect.ci95[1] <= 1.0
    with pytest.raises(ValueError):
        kappa_estimate([[1, 2, 3], [4, 5, 6]])


@pytest.mark.parametrize("kind, value, passed", [
    ("pass_fail", "pass", True), ("pass_fail", "fail", False), ("pass_fail", "maybe", None),
    ("pass_fail", None, None), ("rating", "4", True), ("rating", "5", True), ("rating", "3", False),
    ("rating", 1, False), ("rating", "x", None), ("classification", "pass", None),
])
def test_expert_grade_mapping(kind, value, passed):
    assert expert_passed(kind, value, pass_rating=4) is passed


KEY = JudgeKey("llm-rubric", "h" * 64, "judge")


def _verdict(i: int, passed: bool, result_id: int | None = None) -> JudgedOutput:
    return JudgedOutput(KEY, result_id if result_id is not None else i, f"c{i}", "m", "generation", f"out {i}", passed)


def test_stratified_sample_halves_by_verdict_and_is_seeded():
    verdicts = [_verdict(i, i < 90) for i in range(100)]  # the judge passes 90%
    chosen = stratified(verdicts, 20, seed=3)
    assert sum(v.passed for v in chosen) == 10 and len(chosen) == 20
    assert chosen == stratified(verdicts, 20, seed=3)
    assert chosen != stratified(verdicts, 20, seed=4)
    # A short stratum is taken whole and the other fills in.
    chosen = stratified(verdicts, 40, seed=3)
    assert (sum(not v.passed for v in chosen), len(chosen)) == (10, 40)
    assert len(stratified(verdicts[:5], 40, seed=0)) == 5


def test_grade_case_shows_rubric_input_and_output_but_not_the_verdict():
    text = grade_input({"id": "c1", "input_text": "Q?", "task_type": "qa"}, "A.", "Mentions A")
    assert "RUBRIC: Mentions A" in text and "Q?" in text and text.endswith("OUTPUT to grade:\nA.")
    assert "judge" not in text.lower()
    assert "changed since the run" in grade_input({"id": "c1", "input_text": "Q?"}, "A.", None)


def test_calibration_rule_and_figures():
    cfg = parse_config({})
    # 40 outputs: experts and judge agree on 36 (20 pass, 16 fail); judge passes 3 the experts fail,
    # fails 1 they pass. Kappa = (0.9 - p_e) / (1 - p_e) with p_e = 0.525*0.575 + 0.475*0.425.
    verdicts = [_verdict(i, i < 23) for i in range(40)]
    grades = {v.output_key: ExpertGrade(v.passed if i not in (20, 21, 22, 23) else not v.passed, "sample")
              for i, v in enumerate(verdicts)}
    j = calibrate_group(KEY, verdicts, 2, grades, cfg)
    c = j.confusion
    assert (c.expert_pass_judge_pass, c.expert_pass_judge_fail, c.expert_fail_judge_pass,
            c.expert_fail_judge_fail) == (20, 1, 3, 16)
    p_e = (21 / 40) * (23 / 40) + (19 / 40) * (17 / 40)
    assert j.kappa == pytest.approx((0.9 - p_e) / (1 - p_e))
    assert (j.graded, j.agreed, j.percent_agreement, j.judge_errors) == (40, 36, 0.9, 2)
    assert j.precision_pass == pytest.approx(20 / 23) and j.recall_pass == pytest.approx(20 / 21)
    assert j.calibrated and j.reasons == [] and j.kappa_ci95[0] < j.kappa < j.kappa_ci95[1]

    # The same output judged again (a repeat) counts once, with the judge's latest verdict.
    again = verdicts + [_verdict(0, False, result_id=100)]
    j2 = calibrate_group(KEY, again, 0, grades, cfg)
    assert j2.graded == 40 and j2.confusion.expert_pass_judge_fail == 2

    # Too few grades, and a bar the kappa misses, each give a reason.
    few = calibrate_group(KEY, verdicts, 0, dict(list(grades.items())[:29]), cfg)
    assert not few.calibrated and few.reasons[0] == "only 29 expert-graded output(s), need 30"
    strict = calibrate_group(KEY, verdicts, 0, grades, parse_config({"judge": {"min_kappa": 0.9}}))
    assert not strict.calibrated and strict.reasons == [f"kappa {j.kappa:.3f} < 0.9"]
    nothing = calibrate_group(KEY, verdicts, 0, {}, cfg)
    assert (nothing.graded, nothing.kappa, nothing.percent_agreement, nothing.precision_pass) == (0, None, None, None)
