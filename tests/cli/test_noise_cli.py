"""`assay noise RUN` through the CLI on hand-built runs (tests/unit/noise_fixtures.py): the table,
complete JSON, exit 2 on a single-repeat run or an unknown run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from noise_fixtures import F, P, repeated_run  # noqa: E402
from scoring_fixtures import add_dataset, new_db  # noqa: E402

from cli.main import cli  # noqa: E402

KEYS = ["model", "task_type", "results", "ungraded", "cases", "cases_too_few", "flipped_cases", "flip_share",
        "flip_share_ci95", "discordance", "discordance_ci95", "mdd", "score_cases", "score_sd", "score_sd_ci95"]


@pytest.fixture
def ws(tmp_path):
    db = new_db(tmp_path)
    v = add_dataset(db, [{"id": f"c{i:03d}", "input_text": f"q{i}", "expected_output": "a",
                          "task_type": ("qa", "classification")[i % 2]} for i in range(200)])
    # 20 of 200 cases flip between the 2 repeats of model "noisy"; "steady" never flips.
    repeated_run(db, v, "r-rep", 2, {"noisy": {f"c{i:03d}": [P, F] if i < 20 else [P, P] for i in range(200)},
                                     "steady": {f"c{i:03d}": [P, P] for i in range(200)}})
    repeated_run(db, v, "r-one", 1, {"noisy": {"c000": [P]}})
    db.close()
    return tmp_path


def assay(ws: Path, *args: str):
    return CliRunner().invoke(cli, ["-w", str(ws), *args], env={
        "ASSAY_DB": None, "ASSAY_USER_CONFIG": str(ws / "no-user-config.toml")})


def test_json_has_every_figure(ws):
    p = assay(ws, "noise", "r-rep", "--json")
    assert p.exit_code == 0, p.output
    data = json.loads(p.stdout)
    assert list(data) == ["run_id", "dataset", "repeats", "task_types", "series"]
    assert (data["run_id"], data["dataset"], data["repeats"]) == ("r-rep", "ds", 2)
    assert [(s["model"], s["task_type"]) for s in data["series"]] == [
        ("noisy", "(all)"), ("noisy", "classification"), ("noisy", "qa"),
        ("steady", "(all)"), ("steady", "classification"), ("steady", "qa")]
    assert all(list(s) == KEYS for s in data["series"])
    noisy = data["series"][0]
    assert (noisy["cases"], noisy["flipped_cases"], noisy["flip_share"], noisy["discordance"]) == (200, 20, 0.1, 0.1)
    assert noisy["mdd"] > 0.05 and len(noisy["flip_share_ci95"]) == 2
    steady = data["series"][3]
    assert (steady["flip_share"], steady["discordance"], steady["mdd"], steady["score_sd"]) == (0.0, 0.0, None, 0.0)


def test_table(ws):
    p = assay(ws, "noise", "r-rep")
    assert p.exit_code == 0, p.output
    assert "noise between 2 repeats" in p.stdout
    lines = p.stdout.splitlines()
    row = next(line for line in lines if line.startswith("noisy") and "(all)" in line)
    assert "10.0%" in row and " 200 " in row and "pts" in row
    assert "discordance" in p.stdout and "MDD" in p.stdout


def test_single_repeat_and_unknown_run_exit_2(ws):
    p = assay(ws, "noise", "r-one")
    assert p.exit_code == 2 and "--repeat 1" in p.stderr and p.stdout == ""
    assert assay(ws, "noise", "r-one", "--json").exit_code == 2
    p = assay(ws, "noise", "r-nope")
    assert p.exit_code == 2 and "no run 'r-nope'" in p.stderr
