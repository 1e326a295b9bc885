"""`assay report` and `assay score` through the CLI: formats, -o, --latest, quality gate exit codes."""

from __future__ import annotations

import csv
import io
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from scoring_fixtures import build_qa_run, new_db  # noqa: E402

from cli.main import cli  # noqa: E402


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("ws")
    db = new_db(root)
    build_qa_run(db, "r-20260101-000000-aaaa")
    build_qa_run(db, "r-20260102-000000-bbbb")  # the latest
    db.close()
    return root


def assay(ws, *args):
    result = CliRunner().invoke(cli, ["-w", str(ws), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_table_by_id_and_latest(ws):
    code, out, _ = assay(ws, "report", "r-20260101-000000-aaaa")
    assert code == 0 and out.startswith("Run r-20260101-000000-aaaa:")
    code, out, _ = assay(ws, "report", "--latest")
    assert code == 0 and out.startswith("Run r-20260102-000000-bbbb:")


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json", "junit"])
def test_formats_to_stdout(ws, fmt):
    code, out, _ = assay(ws, "report", "--latest", "--format", fmt)
    assert code == 0 and out
    if fmt == "json":
        assert json.loads(out)["run"]["id"] == "r-20260102-000000-bbbb"
    elif fmt == "csv":
        assert len(list(csv.DictReader(io.StringIO(out)))) == 4
    elif fmt == "junit":
        assert ET.fromstring(out).get("failures") == "9"


def test_output_file(ws, tmp_path):
    target = tmp_path / "report.xml"
    code, out, err = assay(ws, "report", "--latest", "--format", "junit", "-o", str(target))
    assert code == 0 and out == "" and "wrote" in err
    root = ET.parse(target).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("26", "9", "3")


def test_quality_gate(ws):
    # Pass rates incl. errors: A 8/12 = 0.667, B 4/12 = 0.333.
    code, out, err = assay(ws, "report", "--latest", "--fail-under", "0.6")
    assert code == 1 and out  # the report is still printed
    assert "B: pass rate incl. errors 0.3333 < 0.6" in err and "A:" not in err
    code, _, err = assay(ws, "report", "--latest", "--fail-under", "0.6", "--model", "A")
    assert code == 0 and "quality gate passed" in err
    code, _, err = assay(ws, "report", "--latest", "--fail-under", "0.7", "--model", "A")
    assert code == 1 and "A: pass rate incl. errors 0.6667 < 0.7" in err


@pytest.mark.parametrize("args, message", [
    ([], "RUN_ID or --latest"),
    (["r-x", "--latest"], "RUN_ID or --latest"),
    (["--latest", "--model", "A"], "--model only applies with --fail-under"),
    (["r-nope"], "no run 'r-nope'"),
    (["--latest", "--fail-under", "0.5", "--model", "Z"], "model 'Z' is not in run"),
])
def test_usage_errors(ws, args, message):
    code, _, err = assay(ws, "report", *args)
    assert code == 2 and message in err


def test_score_command_adds_a_round(tmp_path):
    db = new_db(tmp_path)
    build_qa_run(db, "r-s")
    db.close()
    (tmp_path / "assay.toml").write_text('[scorers.qa]\ntype = "contains"\nvalue = "answer"\n', encoding="utf-8")
    code, _, err = assay(tmp_path, "score", "r-s")
    assert code == 0 and "round 2, 27 verdicts (2 scorer errors)" in err
    code, out, _ = assay(tmp_path, "report", "r-s", "--format", "json")
    assert json.loads(out)["score_rounds"] == [2]
    code, _, err = assay(tmp_path, "score", "r-missing")
    assert code == 2 and "no run" in err
