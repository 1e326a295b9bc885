"""Judge calibration end to end: a run graded by an LLM judge (demo-judge, through litellm against
the in-process DemoServer) -> `judge-sample` queues outputs -> experts grade them through a
LabelSession (what the Label screen drives, p / x) -> `calibrate` reports agreement -> the report
marks an uncalibrated judge (too few grades, a kappa under the bar, or a judge that never
returned a verdict: demo-badjudge).

The demo judge passes an output that shares a number with the rubric. The cases ask "What is i
plus i?" and the demo models echo the question, so with the rubric listing the multiples of 4 the
judge passes exactly the cases with i % 4 == 0.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from runner_helpers import make_dataset, run_engine

from core.config.schema import parse_config
from core.labeling.calibration import GRADE_TASK, SAMPLE_KEY, calibrate, grades_dataset_name
from core.labeling.judge_sample import sample_for_grading
from core.labeling.session import LabelSession
from core.report.build import build_report
from core.report.render import render
from store import connect
from store import datasets as store_ds

pytestmark = pytest.mark.usefixtures("clean_srv")

N = 80
RUBRIC = "Sum in " + " ".join(str(i) for i in range(0, N, 4))


def _config(base: str, judge: str = "demo-judge", **extra):
    return parse_config({
        "models": {"strong": {"model": "openai/demo-strong", "api_base": base},
                   "judge": {"model": f"openai/{judge}", "api_base": base}},
        "judge": {"model": "judge"},
        "scorers": {"generation": {"type": "llm-rubric", "value": RUBRIC}},
        "tasks": {GRADE_TASK: {"kind": "pass_fail"}},
        **extra,
    })


def _grade_all(db, cfg, root: Path, dataset: str, annotator: str, rule) -> int:
    """An expert works through the grades dataset's queue, deciding each case by `rule(i)`."""
    session = LabelSession(db, store_ds.dataset_id(db, dataset), annotator, cfg, root)
    view, n = session.open(), 0
    while view.case is not None and view.mine is None:
        assert view.schema.kind == "pass_fail" and view.schema.choice_for("p").value == "pass"
        i = int(view.case.metadata[SAMPLE_KEY]["case_id"][1:])
        assert f"What is {i} plus {i}?" in view.case.input_text and RUBRIC in view.case.input_text
        view = session.decide("pass" if rule(i) else "fail")
        n += 1
    return n


@pytest.fixture(scope="module")
def judged_run(srv, tmp_path_factory):
    root = tmp_path_factory.mktemp("judge")
    make_dataset(root / "assay.db", N, labeled=False)  # unlabeled: the Label queue holds every case
    cfg = _config(srv.base_url)
    finished = run_engine(root / "assay.db", cfg, ["strong"])
    assert finished.status == "finished"
    return root, cfg, finished.run_id


def test_calibration_flow(judged_run):
    root, cfg, run_id = judged_run
    (root / "assay.toml").write_text("")  # [tasks.judge-grade] is in cfg already: the file is not edited
    db = connect(root / "assay.db")
    grades = grades_dataset_name("d")

    # Ten outputs, stratified: 5 the judge passed and 5 it failed.
    first = sample_for_grading(db, cfg, root / "assay.toml", run_id, size=10, seed=1)
    assert (first.dataset, first.created, first.added) == (grades, True, 10)
    assert (first.added_judged_pass, first.added_judged_fail) == (5, 5)
    assert first.ungraded_left == N - 10 and not first.config_updated
    assert (root / "assay.toml").read_text() == ""
    assert _grade_all(db, cfg, root, grades, "alice", lambda i: i % 4 == 0) == 10

    report = calibrate(db, cfg, run_id)
    (judge,) = report.judges
    assert (judge.judge_model, judge.scorer, judge.judged_outputs, judge.graded) == ("judge", "llm-rubric", N, 10)
    assert judge.kappa == 1.0 and judge.percent_agreement == 1.0 and not judge.calibrated
    assert judge.reasons == ["only 10 expert-graded output(s), need 30"]
    built = build_report(db, run_id, cfg)
    assert [j.calibrated for j in built.judges] == [False]
    assert "UNCALIBRATED judge: judge (llm-rubric)" in render(built, "table")

    # Thirty more (appended, none twice): 40 graded, perfect agreement -> calibrated.
    more = sample_for_grading(db, cfg, root / "assay.toml", run_id, size=30, seed=1)
    assert (more.created, more.added, more.already_queued) == (False, 30, 10)
    assert _grade_all(db, cfg, root, grades, "alice", lambda i: i % 4 == 0) == 30
    judge = calibrate(db, cfg, run_id).judges[0]
    assert (judge.graded, judge.graded_from_samples, judge.calibrated, judge.reasons) == (40, 40, True, [])
    c = judge.confusion
    assert c.expert_pass_judge_pass == 20 and c.expert_fail_judge_fail == 20
    assert (judge.precision_pass, judge.recall_pass) == (1.0, 1.0)
    built = build_report(db, run_id, cfg)
    assert built.judges[0].calibrated and "UNCALIBRATED" not in render(built, "table")
    assert built.to_dict()["judges"][0]["kappa"] == 1.0

    # Experts who pass every even sum disagree with the judge on i % 4 == 2: kappa under the bar.
    # Every output: 20 both pass, 20 only the experts pass, 40 both fail -> p_o 0.75, p_e 0.5, kappa 0.5.
    other = sample_for_grading(db, cfg, root / "assay.toml", run_id, size=N, seed=2, into="bob-grades")
    assert other.added == N
    _grade_all(db, cfg, root, "bob-grades", "bob", lambda i: i % 2 == 0)
    judge = calibrate(db, cfg, run_id, grades_dataset="bob-grades").judges[0]
    c = judge.confusion
    assert (c.expert_pass_judge_pass, c.expert_pass_judge_fail, c.expert_fail_judge_pass,
            c.expert_fail_judge_fail) == (20, 20, 0, 40)
    assert judge.kappa == pytest.approx(0.5) and judge.percent_agreement == 0.75
    assert not judge.calibrated and judge.reasons == ["kappa 0.500 < 0.6"]
    assert judge.kappa_ci95[0] < judge.kappa < judge.kappa_ci95[1]
    db.close()


def test_a_judge_without_verdicts_is_uncalibrated(srv, tmp_path):
    make_dataset(tmp_path / "assay.db", 4)
    cfg = _config(srv.base_url, judge="demo-badjudge")
    run_id = run_engine(tmp_path / "assay.db", cfg, ["strong"]).run_id
    db = connect(tmp_path / "assay.db")
    (judge,) = calibrate(db, cfg, run_id).judges
    assert (judge.judged_outputs, judge.judge_errors, judge.graded, judge.calibrated) == (0, 4, 0, False)
    report = build_report(db, run_id, cfg)
    assert report.uncalibrated_judges and "UNCALIBRATED judge: judge (llm-rubric)" in render(report, "markdown")
    db.close()


def test_rating_labels_on_the_run_dataset_grade_its_single_output(judged_run):
    """A rating task's labels grade the one output the Label screen shows (a rating >= 4 passes)."""
    root, cfg, run_id = judged_run
    rated = _config(cfg.models["judge"].api_base, tasks={"generation": {"kind": "rating"}})
    db = connect(root / "assay.db")
    session = LabelSession(db, store_ds.dataset_id(db, "d"), "carol", rated, root)
    view = session.open()
    for _ in range(6):
        assert view.schema.kind == "rating" and len(view.model_outputs) == 1  # one model: one output shown
        i = int(view.case.case_id[1:])
        view = session.decide("5" if i % 4 == 0 else "2")
    judge = calibrate(db, rated, run_id, grades_dataset="no-such-dataset").judges[0]
    assert (judge.graded, judge.graded_from_labels, judge.agreed) == (6, 6, 6)
    db.close()
