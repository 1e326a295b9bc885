"""`assay cost` through the CLI on a workspace with a scored run (scoring_fixtures.build_qa_run):
figures as worked in tests/unit/test_trends_costs.py, every format, and bad input -> exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from scoring_fixtures import build_qa_run, new_db  # noqa: E402

from cli.main import cli  # noqa: E402

CONFIG = """
[models.A]
model = "openai/a"
input_price_per_1m = 1.0
output_price_per_1m = 2.0

[models.B]
model = "vendor/unpriced"
"""


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("ws")
    db = new_db(root)
    build_qa_run(db, "r-20260101-000000-aaaa")
    db.close()
    (root / "assay.toml").write_text(CONFIG, encoding="utf-8")
    return root


@pytest.fixture(autouse=True)
def no_price_map(monkeypatch):
    # B has no set price: its id is not in litellm's price map (and looking would import litellm).
    monkeypatch.setattr("core.models.prices.price_map_entry", lambda model_id: None)


def assay(ws, *args):
    result = CliRunner().invoke(cli, ["-w", str(ws), "cost", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_table(ws):
    code, out, err = assay(ws, "r-20260101-000000-aaaa", "--cases", "10000/day", "--review-cost", "8",
                           "--min-pass", "0.3")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("Run r-20260101-000000-aaaa (dataset qa-r-20260101-000000-aaaa v1): "
                               "10,000 cases/day; review cost $8.0000 per failed case")
    a_cost = next(line for line in lines if line.startswith("A ") and "assay.toml" in line).split()
    assert a_cost[1:] == ["$1.0000", "$2.0000", "assay.toml", "10.0", "5.0", "$0.0200", "$0.2000", "$73.0000"]
    b_cost = next(line for line in lines if line.startswith("B ") and "unknown" in line).split()
    assert b_cost[1:] == ["unknown", "unknown", "unknown", "10.0", "5.0", "unknown", "unknown", "unknown"]
    a_tco = next(line for line in lines if line.startswith("A ") and "%" in line).split()
    assert a_tco[1:] == ["66.7%", "39.1–86.2%", "yes", "$26,666.67", "$26,666.87", "$9,733,406.33", "yes"]
    b_tco = next(line for line in lines if line.startswith("B ") and "%" in line).split()
    assert b_tco[1:] == ["33.3%", "13.8–60.9%", "no", "$53,333.33", "unknown", "unknown", "unknown"]
    assert ("Cheapest meeting the bar (pass rate incl. errors ≥ 30.0% at its 95% CI lower bound): A, "
            "TCO $9,733,406.33/year") in out
    assert "Frontier (no other model is both cheaper and more accurate): A" in out
    assert "unknown = no price for the model" in out


def test_latest_json_and_tokens(ws):
    code, out, _ = assay(ws, "--latest", "--tokens", "50M/day", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["run_id"] == "r-20260101-000000-aaaa" and data["volume"] == {
        "amount": 50e6, "unit": "tokens", "period": "day"}
    assert data["prompt_tokens_per_case"] == 10 and data["cases_per_day"] == 5e6
    a, b = data["models"]
    assert a["cost_per_day"] == pytest.approx(100.0) and b["cost_per_day"] is None
    assert a["price"] == {"model_id": "openai/a", "source": "assay.toml", "input_per_1m": 1.0, "output_per_1m": 2.0}
    assert data["cheapest"] is None and data["min_pass"] is None


def test_markdown(ws):
    code, out, _ = assay(ws, "r-20260101-000000-aaaa", "--cases", "1.2k/month", "--format", "markdown")
    assert code == 0
    assert out.startswith("# Assay cost projection: run r-20260101-000000-aaaa")
    assert "## Model cost" in out and "## Cost of errors and total cost of ownership" in out
    assert "| A | $1.0000 | $2.0000 | assay.toml |" in out
    assert "No accuracy bar" in out


@pytest.mark.parametrize("args, message", [
    (["r-20260101-000000-aaaa", "--cases", "abc/day"], "--cases: expected an amount per day, month or year"),
    (["r-20260101-000000-aaaa", "--cases", "-5/day"], "--cases: expected an amount"),
    (["r-20260101-000000-aaaa", "--tokens", "0/day"], "--tokens: the amount must be greater than 0"),
    (["r-20260101-000000-aaaa", "--cases", "10/week"], "like 10000/day"),
    (["r-20260101-000000-aaaa", "--cases", "10/day", "--review-cost", "-1"], "--review-cost must be 0 or more"),
    (["r-20260101-000000-aaaa", "--cases", "10/day", "--min-pass", "90"], "--min-pass must be a pass rate"),
    (["r-nope", "--cases", "10/day"], "no run 'r-nope'"),
    (["r-20260101-000000-aaaa"], "--cases N/PERIOD or --tokens N/PERIOD"),
    (["r-20260101-000000-aaaa", "--cases", "1/day", "--tokens", "1/day"], "(one of them)"),
    (["--cases", "1/day"], "RUN_ID or --latest"),
    (["r-20260101-000000-aaaa", "--cases", "1/day", "--review-cost", "lots"], "'lots' is not a valid float"),
])
def test_bad_input_exits_2(ws, args, message):
    code, out, err = assay(ws, *args)
    assert code == 2 and out == "" and message in err
    assert "Traceback" not in err
