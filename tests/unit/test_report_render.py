"""Report formats: table, markdown, csv, json, junit; untrusted text stays inert in each."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
import xml.etree.ElementTree as ET

import pytest
from scoring_fixtures import add_dataset, add_result, add_run, build_qa_run, new_db

from core.config.schema import parse_config
from core.report.build import build_report
from core.report.render import FORMATS, SATURATION_NOTE, render, saturation_note, xml_text
from core.run.scoring import ScoringSession

EVIL_ID = "c\x1b]8;;http://x\x07<b>&\"'\x00\x0b|*[x](http://e)\u202e"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    db = new_db(tmp_path_factory.mktemp("qa"))
    return build_report(db, build_qa_run(db))


@pytest.fixture(scope="module")
def evil_report(tmp_path_factory):
    db = new_db(tmp_path_factory.mktemp("evil"))
    cases = [{"id": EVIL_ID, "input_text": "q", "expected_output": "yes", "task_type": "qa<b>|[x](http://e)"},
             {"id": "ok", "input_text": "q2", "expected_output": "yes", "task_type": "=cmd()"}]
    add_run(db, add_dataset(db, cases), ["=HYPERLINK(\"x\")"], run_id="r-evil")

    async def go():
        s = ScoringSession(db, parse_config({}), "r-evil")
        await s.score(cases[0], add_result(db, "r-evil", EVIL_ID, '=HYPERLINK("x")', output="no \x1b[2J"))
        await s.score(cases[1], add_result(db, "r-evil", "ok", '=HYPERLINK("x")', output="yes"))
        add_result(db, "r-evil", "ok", '=HYPERLINK("x")', repeat=1, status="error", output=None,
                   error_message="bad \x00 byte \x08 <x>")
    asyncio.run(go())
    return build_report(db, "r-evil")


def test_every_format_renders(report):
    for fmt in FORMATS:
        assert render(report, fmt).strip()


def test_table(report):
    text = render(report, "table")
    lines = text.splitlines()
    assert lines[0].startswith("Run r-qa: dataset qa-r-qa v1, models A, B")
    header = next(i for i, line in enumerate(lines) if line.startswith("model  task type"))
    a_row = lines[header + 2].split()
    assert a_row[:7] == ["A", "(all)", "13", "10", "8", "80.0%", "49.0–94.3%"]
    assert "66.7%" in lines[header + 2]
    # Aligned: every row of a table is as wide as its dashed rule allows.
    rule = lines[header + 1]
    assert all(len(line) <= len(rule) for line in lines[header:header + 4])
    assert "≥$0.0120" in text  # B's partial cost is a lower bound
    assert "no significant difference" in text and "0.1250" in text


def test_json_round_trips(report):
    data = json.loads(render(report, "json"))
    assert data["summary"]["A"]["(all)"]["passed"] == 8
    assert data["pairwise"][0]["mcnemar_p"] == 0.125
    assert len(data["results"]) == 26


def test_json_keys_are_the_format(report):
    # `--format json` is a published format: these keys (from core.report.types) and their order
    # are what scripts read. A renamed or reordered field must show up here.
    data = json.loads(render(report, "json"))
    assert list(data) == ["run", "score_rounds", "task_types", "models", "summary", "field_accuracy", "confusion",
                          "pairwise", "results", "method", "overrides", "judges", "contamination"]
    assert list(data["run"]) == ["id", "dataset", "dataset_version", "models", "repeats", "prompt", "status",
                                 "created_at", "finished_at", "loop_lag_p50_ms", "loop_lag_p95_ms",
                                 "client_p50_ms", "latency_kernel_n", "latency_n"]
    assert list(data["summary"]["A"]["(all)"]) == [
        "n", "ok", "errors", "skipped", "scorer_errors", "unscored", "scored", "passed", "failed", "pass_rate",
        "pass_rate_ci95", "pass_rate_incl_errors", "mean_score", "latency_p50_ms", "latency_p95_ms", "latency_n",
        "client_p50_ms", "first_token_p50_ms", "first_token_p95_ms", "cached", "input_tokens", "output_tokens", "cost_usd",
        "cost_status", "cost_unknown_results", "cost_per_case", "cost_per_correct", "judge_scores",
        "judge_cost_usd", "judge_cost_status"]
    assert list(data["pairwise"][0]) == ["a", "b", "pairs", "pass_rate_a", "pass_rate_b", "pass_rate_diff",
                                         "a_only_passed", "b_only_passed", "mcnemar_p", "score_diff",
                                         "score_diff_ci95", "verdict", "noise_floor"]
    scored = next(r for r in data["results"] if r["scorers"])
    assert list(scored) == ["result_id", "case_id", "model", "repeat", "task_type", "status", "latency_ms",
                            "latency_first_ms", "cached", "cost_usd", "input_tokens", "output_tokens", "error_class",
                            "error_message", "verdict", "score", "scorers", "message", "override", "client_ms"]
    assert list(scored["scorers"][0]) == ["scorer", "status", "score", "passed", "round"]
    assert list(data["method"]) == ["ci", "paired_test", "alpha", "bootstrap"]
    assert list(data["method"]["bootstrap"]) == ["resamples", "seed"]
    assert len(data["summary"]["A"]["(all)"]["pass_rate_ci95"]) == 2


@pytest.mark.parametrize(("lag", "client", "timed", "kernel", "says"), [
    (None, None, 20, 20, None),  # nothing measured: no note
    (8.0, 12.0, 20, 20, None),  # a busy client below the bar
    # 2 workers at concurrency 32: each loop answers in time, every call still queued behind the others
    (6.0, 23.4, 20, 20, "calls spent p50 23 ms in the client before going out during the run, so latencies "
                        "were timed by the kernel and exclude that wait, which slowed the run, not its latencies"),
    (35.0, None, 20, 0, "event loop lag p50 35 ms, p95 40 ms during the run, so its latencies include the "
                        "client's own queueing, not only the provider's time"),
    (35.0, 30.0, 20, 15, "5 of 20 latencies were timed on the event loop and include the client's own queueing; "
                         "the kernel timed the others, which exclude it"),
])
def test_the_saturation_note_says_which_latencies_carry_the_clients_wait(report, lag, client, timed, kernel, says):
    run = dataclasses.replace(report.run, loop_lag_p50_ms=lag, loop_lag_p95_ms=40.0, client_p50_ms=client,
                              latency_n=timed, latency_kernel_n=kernel)
    note = saturation_note(dataclasses.replace(report, run=run))
    if says is None:
        assert note is None
    else:
        assert note is not None and note.startswith(SATURATION_NOTE) and says in note, note
        assert render(dataclasses.replace(report, run=run), "table").splitlines()[1] == note


def test_csv(report):
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert [(r["model"], r["task_type"]) for r in rows] == [("A", "(all)"), ("A", "qa"), ("B", "(all)"), ("B", "qa")]
    assert float(rows[0]["pass_rate"]) == 0.8 and rows[0]["cost_status"] == "known"
    assert rows[2]["cost_status"] == "partial" and rows[2]["judge_cost_usd"] == ""  # None is empty, not 0


def test_junit_parses_and_counts(report):
    root = ET.fromstring(render(report, "junit"))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("26", "9", "3", "2")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    a = suites["A"]
    # A: fails c8, c9; errors: c10 (call error) and c12 (scorer error); skipped: c11 (unscored).
    assert (a.get("tests"), a.get("failures"), a.get("errors"), a.get("skipped")) == ("13", "2", "2", "1")
    cases = {c.get("name"): c for c in a.findall("testcase")}
    assert "c8 [A]" in cases and cases["c8 [A]"].find("failure") is not None
    assert cases["c10 [A]"].find("error").get("type") == "assay.error"
    assert "timed out <after> 60 s" in cases["c10 [A]"].find("error").get("message")
    assert cases["c12 [A]"].find("error").get("type") == "assay.scorer_error"
    assert cases["c11 [A]"].find("skipped") is not None
    assert cases["c0 [A]"].find("failure") is None and cases["c0 [A]"].find("error") is None
    # Counted from the elements, the figures agree.
    for suite in suites.values():
        assert int(suite.get("failures")) == len(suite.findall("testcase/failure"))
        assert int(suite.get("errors")) == len(suite.findall("testcase/error"))


def test_markdown(report):
    text = render(report, "markdown")
    assert text.startswith("# Assay report: run r-qa")
    table = [line for line in text.splitlines() if line.startswith("| A | (all) |")]
    assert table and table[0].count("|") == 14  # 13 columns


def test_untrusted_text_is_inert_everywhere(evil_report):
    # JUnit: valid XML 1.0 whatever the case id / error message held.
    junit = render(evil_report, "junit")
    root = ET.fromstring(junit)
    names = [c.get("name") for c in root.iter("testcase")]
    assert any(n.startswith("c]8;;http://x<b>&\"'|*[x](http://e)\u202e") for n in names)
    assert "\x1b" not in junit and "\x00" not in junit and "\x0b" not in junit
    assert "bad  byte  <x>" in root.find(".//error").get("message")
    assert xml_text("a\x01b\ufffec\U0001F600") == "abc\U0001F600"
    # Table: no raw escape or BiDi control reaches the terminal.
    table = render(evil_report, "table")
    assert "\x1b" not in table and "\u202e" not in table and "\x07" not in table
    # Markdown: no live link, HTML or column break from the data.
    md = render(evil_report, "markdown")
    assert "<b>" not in md and "&lt;b&gt;" in md and "\x1b" not in md
    assert "\\|\\[x\\](http://e)" in md  # escaped: neither a column break nor a link
    # CSV: a name that starts like a formula is quoted as text.
    rows = list(csv.DictReader(io.StringIO(render(evil_report, "csv"))))
    assert {r["model"] for r in rows} == {"'=HYPERLINK(\"x\")"}
    assert "'=cmd()" in {r["task_type"] for r in rows}
    # JSON: ASCII only, every control character escaped.
    js = render(evil_report, "json")
    assert js.isascii() and "\\u001b" in js
    assert json.loads(js)["results"][0]["case_id"] == EVIL_ID
