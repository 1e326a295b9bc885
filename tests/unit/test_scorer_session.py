"""ScoringSession and rescore: rows per scorer and round, errors and timeouts recorded, never fatal."""

from __future__ import annotations

import asyncio
import json
import textwrap
import time

import pytest
from scoring_fixtures import add_dataset, add_result, add_run, new_db

from core.config.schema import parse_config
from core.errors import ConfigError
from core.run.scoring import ScoringSession, arescore
from scorers.base import JudgeReply
from store import scores as store_scores

CASES = [
    {"id": "x1", "input_text": "invoice 1", "task_type": "extraction", "expected_output": {"total": 10, "who": "Ann"}},
    {"id": "k1", "input_text": "ticket 1", "task_type": "classification", "expected_output": "billing"},
    {"id": "q1", "input_text": "capital of France?", "task_type": "qa", "expected_output": "Paris"},
    {"id": "u1", "input_text": "unlabeled", "task_type": "qa"},
    {"id": "a1", "input_text": "say hi", "task_type": "qa",
     "metadata": {"assert": [{"type": "icontains", "value": "hi"}, {"type": "not-contains", "value": "bye"}]}},
    {"id": "evil", "input_text": "evil", "task_type": "qa",
     "metadata": {"assert": [{"type": "python", "value": "file://pwn.py"}]}},
]
CFG = {"tasks": {"classification": {"kind": "classification", "labels": ["billing", "tech"]}}}


@pytest.fixture()
def ws(tmp_path):
    db = new_db(tmp_path)
    vid = add_dataset(db, [dict(c) for c in CASES])
    return tmp_path, db, add_run(db, vid, ["m"])


def by_id(case_id):
    return next(c for c in CASES if c["id"] == case_id)


def score(db, cfg, run, case_id, output, **kw):
    """Write a new result for the case (next repeat) and score it in a fresh session."""
    repeat = db.execute("SELECT COUNT(*) FROM results WHERE run_id = ? AND case_id = ?", [run, case_id]).fetchone()[0]
    result = add_result(db, run, case_id, "m", repeat=repeat, output=output)

    async def go():
        session = ScoringSession(db, parse_config(cfg), run, **kw)
        try:
            return await session.score(by_id(case_id), result)
        finally:
            await session.aclose()
    return asyncio.run(go())


def rows(db, run):
    return store_scores.score_rows(db, run)


def test_default_scorers_by_task_type(ws):
    _, db, run = ws
    assert score(db, CFG, run, "x1", '{"total": "10", "who": "ann"}')["passed"] is True
    assert score(db, CFG, run, "k1", "Label: Billing.")["passed"] is True
    assert score(db, CFG, run, "q1", " paris ")["passed"] is True
    got = [(r["scorer"], r["status"], r["passed"], r["round"]) for r in rows(db, run)]
    assert got == [("extraction", "ok", True, 1), ("classification", "ok", True, 1), ("exact", "ok", True, 1)]
    assert rows(db, run)[1]["details"]["valid_label"] is True


def test_unlabeled_case_is_not_scored_but_assertions_are(ws):
    _, db, run = ws
    assert score(db, CFG, run, "u1", "anything") is None
    verdict = score(db, CFG, run, "a1", "Hi there")
    assert verdict["passed"] is True and verdict["scorer"] == "case-assert"
    assert [r["scorer"] for r in rows(db, run)] == ["case-assert"]


def test_metadata_cannot_name_code(ws):
    tmp, db, run = ws
    (tmp / "pwn.py").write_text("raise SystemExit('executed!')\n", encoding="utf-8")
    verdict = score(db, CFG, run, "evil", "x")
    assert verdict["status"] == "error" and verdict["passed"] is None
    assert "unknown assertion type 'python'" in rows(db, run)[0]["details"]["error"]


def test_error_and_skipped_results_are_not_scored(ws):
    _, db, run = ws

    async def go():
        session = ScoringSession(db, parse_config(CFG), run)
        for i, status in enumerate(("error", "skipped")):
            r = add_result(db, run, "q1", "m", repeat=i, status=status, output=None)
            assert await session.score(by_id("q1"), r) is None
    asyncio.run(go())
    assert rows(db, run) == []


SCORER_SRC = textwrap.dedent('''
    import time

    def boom(output, case):
        raise ValueError("bad scorer")

    def slow(output, case):
        time.sleep(5)
        return True

    def leave(output, case):
        raise SystemExit(3)
''')


def test_raising_and_hanging_scorers_are_errors_and_the_run_goes_on(ws):
    tmp, db, run = ws
    (tmp / "my.py").write_text(SCORER_SRC, encoding="utf-8")
    cfg = {"scorers": {"qa": {"type": "python", "path": "my.py:boom"}}}
    verdict = score(db, cfg, run, "q1", "Paris")  # root defaults to the db's folder
    assert verdict["status"] == "error" and verdict["score"] is None
    cfg = {"scorers": {"qa": {"type": "python", "path": "my.py:slow", "timeout_s": 0.2}}}
    t0 = time.monotonic()
    verdict = score(db, cfg, run, "q1", "Paris", root=tmp)
    assert time.monotonic() - t0 < 3
    assert verdict["status"] == "error"
    last = rows(db, run)[-1]
    assert (last["status"], last["score"], last["passed"]) == ("error", None, None)
    assert "timed out after 0.2 s" in last["details"]["error"]
    cfg = {"scorers": {"qa": {"type": "python", "path": "my.py:leave"}}}
    verdict = score(db, cfg, run, "q1", "Paris", root=tmp)
    assert verdict["status"] == "error" and "SystemExit: 3" in rows(db, run)[-1]["details"]["error"]
    # A later result is scored normally.
    assert score(db, {}, run, "q1", "Paris")["passed"] is True


def test_pure_scorers_run_inline_and_the_rest_in_a_thread(ws, monkeypatch):
    import core.run.scoring
    from scorers.assertions import AssertionSet

    threaded = []
    real = core.run.scoring._in_daemon_thread
    monkeypatch.setattr(core.run.scoring, "_in_daemon_thread", lambda fn: threaded.append(fn) or real(fn))
    _, db, run = ws
    assert score(db, CFG, run, "x1", '{"total": 10, "who": "Ann"}')["passed"] is True
    assert score(db, CFG, run, "k1", "billing")["passed"] is True
    assert score(db, CFG, run, "a1", "hi there")["passed"] is True  # icontains / not-contains
    assert threaded == []
    # An output past INLINE_MAX_CHARS, an assertion with a regex from the data, and an explicit
    # timeout_s all go to the worker thread.
    assert score(db, CFG, run, "q1", "x" * (core.run.scoring.INLINE_MAX_CHARS + 1))["passed"] is False
    assert score(db, {"scorers": {"qa": {"type": "exact", "timeout_s": 5}}}, run, "q1", "Paris")["passed"] is True
    assert len(threaded) == 2
    assert not AssertionSet([{"type": "regex", "value": "a+"}]).inline
    assert not AssertionSet([{"type": "is-json", "value": {"type": "object"}}]).inline
    assert AssertionSet([{"type": "is-json"}, {"type": "not-icontains-any", "value": ["x"]}]).inline


def test_configured_assertions_and_multiple_rows(ws):
    _, db, run = ws
    cfg = {"scorers": {"qa": {"assert": [{"type": "contains", "value": "Paris"}], "threshold": 0.5}}}
    verdict = score(db, cfg, run, "a1", "Paris says hi")
    # The task's configured assertion set and the case's own assertions: one row each.
    assert [s["scorer"] for s in verdict["scorers"]] == ["assert", "case-assert"]
    assert verdict["passed"] is True and verdict["score"] == 1.0


def test_judge_is_injected_and_recorded(ws):
    _, db, run = ws
    prompts = []

    async def judge(prompt):
        prompts.append(prompt)
        await asyncio.sleep(0)
        return JudgeReply('{"pass": true, "score": 0.75, "reason": "mentions it"}', "judge-m", 0.0, 0.0003)

    cfg = {"scorers": {"qa": {"type": "llm-rubric", "value": "Names the capital"}}}
    verdict = score(db, cfg, run, "q1", "Paris", judge=judge)
    assert verdict["passed"] is True and verdict["score"] == 0.75
    row = rows(db, run)[-1]
    assert (row["judge_model"], row["judge_temperature"], row["judge_cost_usd"]) == ("judge-m", 0.0, 0.0003)
    assert len(row["judge_prompt_hash"]) == 64 and "<<<OUTPUT\nParis\nOUTPUT>>>" in prompts[0]


def test_bad_config_fails_before_scoring(ws):
    _, db, run = ws
    with pytest.raises(ConfigError, match="scorers.qa"):
        ScoringSession(db, parse_config({"scorers": {"qa": {"type": "regex", "value": "("}}}), run)
    with pytest.raises(ConfigError, match="judge"):
        ScoringSession(db, parse_config({"scorers": {"qa": {"type": "llm-rubric", "value": "x"}}}), run)


def test_rescore_adds_a_round_and_keeps_old_rows(ws):
    _, db, run = ws
    assert score(db, {}, run, "q1", "Paris.")["passed"] is False  # exact match: the period counts
    cfg = parse_config({"scorers": {"qa": {"type": "contains", "value": "Paris"}}})
    rnd = asyncio.run(arescore(db, cfg, run))
    assert rnd == 2
    got = [(r["round"], r["scorer"], r["passed"]) for r in rows(db, run)]
    assert got == [(1, "exact", False), (2, "contains", True)]
    latest = store_scores.latest_scores(db, run)
    assert [r["scorer"] for rs in latest.values() for r in rs] == ["contains"]
    json.dumps(latest)  # JSON-able


def test_configured_scorers_can_be_checked_before_a_run(tmp_path):
    from core.run.scoring import configured_scorers

    cfg = parse_config({"tasks": {"invoice": {"kind": "extraction", "fields": ["a", "b[0].c"]}},
                        "scorers": {"invoice": {"type": "extraction"}, "qa": {"assert": [{"type": "is-json"}]}}})
    built = configured_scorers(cfg, tmp_path)
    assert [p for p, _ in built["invoice"].fields] == ["a", "b[0].c"]  # fields from [tasks.invoice]
    with pytest.raises(ConfigError, match="scorers.qa: regex"):
        configured_scorers(parse_config({"scorers": {"qa": {"type": "regex", "value": "("}}}), tmp_path)
    with pytest.raises(ConfigError, match="needs a judge"):
        configured_scorers(parse_config({"scorers": {"qa": {"type": "llm-rubric", "value": "x"}}}), tmp_path)
