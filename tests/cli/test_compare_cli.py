"""`assay baseline set/list/clear` and `assay compare` through the CLI on a hand-built history
(tests/unit/trends_fixtures.py): exit codes, every format, complete JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from scoring_fixtures import new_db  # noqa: E402
from trends_fixtures import base_pattern, dataset, flipped, run  # noqa: E402

from cli.main import cli  # noqa: E402


@pytest.fixture
def ws(tmp_path):
    db = new_db(tmp_path)
    v = dataset(db, 300, task_types=("qa", "classification"))
    base = base_pattern(300, 0.85, seed=1)
    run(db, v, "r-base", {"noisy": base, "worse": base}, created_at="2026-01-01T00:00:00+00:00")
    run(db, v, "r-cand", {"noisy": flipped(base, 20, 11, seed=2), "worse": flipped(base, 30, 0, seed=3)[:290] + [None] * 10})
    run(db, v, "r-same", {"noisy": base})
    db.close()
    return tmp_path


def assay(ws: Path, *args: str):
    return CliRunner().invoke(cli, ["-w", str(ws), *args], env={
        "ASSAY_DB": None, "USER": "tester", "ASSAY_USER_CONFIG": str(ws / "no-user-config.toml")})


def test_baseline_set_list_clear(ws):
    assert assay(ws, "baseline", "list").stderr.startswith("no baseline pinned")
    p = assay(ws, "baseline", "set", "r-base", "--as", "alice")
    assert p.exit_code == 0 and "baseline of dataset ds is now run r-base (pinned by alice)" in p.stderr
    assert assay(ws, "baseline", "set", "r-base", "--model", "worse").exit_code == 0
    listed = json.loads(assay(ws, "baseline", "list", "--json").stdout)
    assert [(b["dataset"], b["model"], b["run_id"], b["pinned_by"], b["cleared_at"]) for b in listed] == [
        ("ds", None, "r-base", "alice", None), ("ds", "worse", "r-base", "tester", None)]
    assert list(listed[0]) == ["id", "dataset", "model", "run_id", "pinned_by", "pinned_at", "cleared_by",
                               "cleared_at", "dataset_id"]
    assert "(every model)" in assay(ws, "baseline", "list").stdout
    p = assay(ws, "baseline", "clear", "ds", "--model", "worse")
    assert p.exit_code == 0 and "cleared" in p.stderr
    assert "no baseline pinned" in assay(ws, "baseline", "clear", "ds", "--model", "worse").stderr
    assert len(json.loads(assay(ws, "baseline", "list", "--json").stdout)) == 1
    assert len(json.loads(assay(ws, "baseline", "list", "--all", "--json").stdout)) == 2


def test_baseline_errors_exit_2(ws):
    assert assay(ws, "baseline", "set", "r-nope").exit_code == 2
    p = assay(ws, "baseline", "set", "r-base", "--model", "ghost")
    assert p.exit_code == 2 and "model 'ghost' is not in run r-base" in p.stderr
    assert assay(ws, "baseline", "clear", "nope").exit_code == 2


def test_compare_table_and_fail_on_regression(ws):
    p = assay(ws, "compare", "r-base", "r-cand")
    assert p.exit_code == 0, p.output
    assert "within noise" in p.stdout and "ALERT" in p.stdout and "insufficient data" in p.stdout
    assert "worse newly failing (29): c0" in p.stdout and "… and 9 more" in p.stdout
    p = assay(ws, "compare", "r-base", "r-cand", "--fail-on-regression")
    assert p.exit_code == 1 and "alert-level regression(s): ds / worse / (all)" in p.stderr
    assert assay(ws, "compare", "r-base", "r-same", "--fail-on-regression").exit_code == 0


def test_compare_json_is_complete(ws):
    out = json.loads(assay(ws, "compare", "r-base", "r-cand", "--format", "json").stdout)
    assert (out["candidate_run_id"], out["baseline_run_ids"], out["threshold_points"], out["tested"]) == (
        "r-cand", ["r-base"], 3.0, 6)
    worse = next(s for s in out["series"] if s["model"] == "worse" and s["task_type"] == "(all)")
    assert (worse["matched"], worse["missing"], worse["new"], worse["status"]) == (290, 10, 0, "alert")
    assert len(worse["newly_failing"]) == 29 and worse["newly_failing"][0].keys() == {"case_id", "repeat"}
    for key in ("pass_rate_baseline", "pass_rate_candidate", "pass_rate_diff", "pass_rate_diff_ci95", "mcnemar_p",
                "q_value", "mean_score_diff", "mean_score_diff_ci95", "flip_rate", "mdd", "mdd_flip_rate",
                "cases_needed", "newly_passing", "why", "ungraded", "baseline_model"):
        assert key in worse
    noisy = next(s for s in out["series"] if s["model"] == "noisy" and s["task_type"] == "(all)")
    assert noisy["status"] == "within_noise" and noisy["cases_needed"] > 300


def test_compare_markdown(ws):
    p = assay(ws, "compare", "r-base", "r-cand", "--format", "markdown")
    assert p.stdout.startswith("# Assay comparison: run r-cand") and "| worse | (all) | 290 | 10 | 0 |" in p.stdout
    assert "## Changed cases" in p.stdout


def test_compare_with_the_pinned_baseline(ws):
    p = assay(ws, "compare", "r-cand", "--baseline")
    assert p.exit_code == 2 and "no baseline pinned for dataset 'ds'" in p.stderr
    assay(ws, "baseline", "set", "r-base")
    p = assay(ws, "compare", "r-cand", "--baseline", "--fail-on-regression", "--format", "json")
    assert p.exit_code == 1 and json.loads(p.stdout)["baseline_run_ids"] == ["r-base"]


def test_compare_usage_errors(ws):
    assert assay(ws, "compare", "r-cand").exit_code == 2
    assert assay(ws, "compare", "r-base", "r-cand", "--baseline").exit_code == 2
    assert assay(ws, "compare", "r-base", "r-nope").exit_code == 2
    p = assay(ws, "compare", "r-base", "r-base")
    assert p.exit_code == 2 and "its own baseline" in p.stderr
