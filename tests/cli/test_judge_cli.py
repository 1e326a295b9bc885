"""`assay judge-sample` and `assay judge-check` as a user runs them (CliRunner) on a run graded by
demo-judge through litellm against the in-process DemoServer: messages, JSON keys, exit codes,
and assay.toml gaining the pass/fail task the Label screen grades with."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))
from runner_helpers import make_dataset, run_engine  # noqa: E402

from cli.main import cli  # noqa: E402
from core.config.schema import load_config  # noqa: E402
from core.labeling.session import LabelSession  # noqa: E402
from store import connect  # noqa: E402
from store import datasets as store_ds  # noqa: E402

pytestmark = pytest.mark.usefixtures("clean_srv")

RUBRIC = "Sum in 0 4 8"  # demo-judge passes "What is i plus i?" for i in 0, 4, 8


def assay(ws: Path, *args: str):
    return CliRunner().invoke(cli, ["-w", str(ws), *args], env={
        "ASSAY_DB": None, "USER": "tester", "ASSAY_USER_CONFIG": str(ws / "no-user-config.toml")})


@pytest.fixture
def ws(srv, tmp_path):
    (tmp_path / "assay.toml").write_text(f"""# my workspace
[models.strong]
model = "openai/demo-strong"
api_base = "{srv.base_url}"

[models.judge]
model = "openai/demo-judge"
api_base = "{srv.base_url}"

[judge]
model = "judge"

[scorers.generation]
type = "llm-rubric"
value = "{RUBRIC}"
""")
    make_dataset(tmp_path / "assay.db", 12)
    return tmp_path


def _run(ws: Path) -> str:
    return run_engine(ws / "assay.db", load_config(ws / "assay.toml"), ["strong"]).run_id


def test_sample_label_check(ws):
    run_id = _run(ws)
    p = assay(ws, "judge-sample", run_id, "--size", "6", "--seed", "3")
    assert p.exit_code == 0, p.output
    assert 'added [tasks.judge-grade] kind = "pass_fail"' in p.stderr
    assert "created d-judge-grades: 6 output(s) (3 judged pass, 3 judged fail); 6 more not queued" in p.stderr
    assert "assay label d-judge-grades" in p.stderr and "p = pass, x = fail" in p.stderr
    toml = (ws / "assay.toml").read_text()
    assert toml.startswith("# my workspace") and load_config(ws / "assay.toml").tasks["judge-grade"].kind == "pass_fail"

    p = assay(ws, "judge-sample", run_id, "--size", "100", "--json")
    data = json.loads(p.stdout)
    assert list(data) == ["dataset", "created", "config_updated", "added", "added_judged_pass", "added_judged_fail",
                          "ungraded_left", "already_queued"]
    assert (data["added"], data["already_queued"], data["ungraded_left"], data["config_updated"]) == (6, 6, 0, False)
    assert "nothing to add" in assay(ws, "judge-sample", run_id).stderr

    # An expert grades every output (agreeing with the judge but on one output).
    cfg = load_config(ws / "assay.toml")
    db = connect(ws / "assay.db")
    session = LabelSession(db, store_ds.dataset_id(db, "d-judge-grades"), "alice", cfg, ws)
    view = session.open()
    while view.case is not None and view.mine is None:
        i = int(view.case.metadata["judge_sample"]["case_id"][1:])
        view = session.decide("pass" if i in (0, 4, 8, 11) else "fail")
    db.close()

    p = assay(ws, "judge-check", run_id, "--json")
    assert p.exit_code == 0
    data = json.loads(p.stdout)
    assert list(data) == ["run_id", "dataset", "grades_dataset", "min_kappa", "min_graded", "pass_rating", "judges",
                          "method"]
    (judge,) = data["judges"]
    assert list(judge) == ["scorer", "judge_prompt_hash", "judge_model", "judged_outputs", "judge_errors", "graded",
                           "graded_from_samples", "graded_from_labels", "agreed", "percent_agreement", "kappa",
                           "kappa_se", "kappa_ci95", "confusion", "precision_pass", "recall_pass", "calibrated",
                           "reasons"]
    assert judge["confusion"] == {"expert_pass_judge_pass": 3, "expert_pass_judge_fail": 1,
                                  "expert_fail_judge_pass": 0, "expert_fail_judge_fail": 8}
    assert (judge["graded"], judge["agreed"], judge["calibrated"]) == (12, 11, False)
    assert judge["reasons"] == ["only 12 expert-graded output(s), need 30"]
    assert judge["precision_pass"] == 1.0 and judge["recall_pass"] == 0.75 and len(judge["kappa_ci95"]) == 2

    p = assay(ws, "judge-check", run_id)
    assert p.exit_code == 0
    assert "llm-rubric  judge" in p.stdout and "3/1/0/8" in p.stdout and "91.7%" in p.stdout
    assert "UNCALIBRATED judge (llm-rubric): only 12 expert-graded output(s), need 30" in p.stdout
    assert f"assay judge-sample {run_id}" in p.stderr

    p = assay(ws, "judge-check", run_id, "--fail-uncalibrated")
    assert p.exit_code == 1 and "1 uncalibrated judge(s)" in p.stderr

    p = assay(ws, "report", run_id)
    assert "UNCALIBRATED judge: judge (llm-rubric)" in p.stdout and "Judge calibration" in p.stdout
    assert json.loads(assay(ws, "report", run_id, "--format", "json").stdout)["judges"][0]["graded"] == 12


def test_usage_errors(ws):
    assert assay(ws, "judge-check", "r-nope").exit_code == 2
    p = assay(ws, "judge-sample", "r-nope")
    assert p.exit_code == 2 and "no run 'r-nope'" in p.stderr
    assert assay(ws, "judge-sample", "r-nope", "--size", "0").exit_code == 2
    # A run without a judge: nothing to check or sample.
    toml = (ws / "assay.toml").read_text().split("[judge]")[0]
    (ws / "assay.toml").write_text(toml)
    run_id = _run(ws)
    p = assay(ws, "judge-check", run_id)
    assert p.exit_code == 0 and "has no judge verdicts" in p.stderr
    assert json.loads(assay(ws, "judge-check", run_id, "--json").stdout)["judges"] == []
    p = assay(ws, "judge-sample", run_id)
    assert p.exit_code == 2 and "has no judge verdicts to grade" in p.stderr
