"""core.review.detail: one case side by side (input, ground truth, answers with verdicts and
typed scorer details) and the word diff."""

from __future__ import annotations

from scoring_fixtures import add_dataset, add_result, add_run, build_qa_run, new_db

from core.review.cases import build_index
from core.review.detail import case_detail, pretty, scorer_detail, word_diff
from core.review.overrides import override_verdict


def test_side_by_side_of_a_scored_case(tmp_path):
    db = new_db(tmp_path)
    build_qa_run(db)
    index = build_index(db, "r-qa")
    d = case_detail(db, index, "c8")
    assert (d.input_text, d.expected, d.task_type) == ("question 8", "answer 8", "qa")
    a, b = d.answers
    assert (a.model, a.output, a.verdict, a.score) == ("A", "wrong", "fail", 0.0)
    assert (b.model, b.verdict, b.score, b.baseline) == ("B", "pass", 1.0, False)
    assert a.scorers[0].status == "ok" and a.scorers[0].passed is False
    err = case_detail(db, index, "c10").answers[0]
    assert (err.status, err.verdict, err.error) == ("error", "error", "timeout: timed out <after> 60 s")
    bad = case_detail(db, index, "c12").answers[0]
    assert bad.verdict == "scorer_error" and "unknown assertion type" in bad.scorers[0].error


def test_a_chat_case_shows_its_conversation_before_the_input(tmp_path):
    from tui.screens.review.view import case_head

    db = new_db(tmp_path)
    turns = [{"role": "system", "content": "Classify."}, {"role": "user", "content": "Hi " + "x" * 900},
             {"role": "assistant", "content": "What happened?"}, {"role": "user", "content": "charged twice"}]
    vid = add_dataset(db, [{"id": "t1", "input_text": "charged twice", "expected_output": "billing",
                            "task_type": "qa", "metadata": {"messages": turns}}])
    add_run(db, vid, ["A"], run_id="r-chat")
    add_result(db, "r-chat", "t1", "A", output="billing")
    d = case_detail(db, build_index(db, "r-chat"), "t1")
    assert d.metadata == {"messages": turns}
    head = case_head(d).plain
    assert "Conversation before the input\nsystem: Classify.\nuser: Hi xxx" in head
    assert head.index("user: Hi") < head.index("charged twice") and "x" * 600 not in head  # each turn cut


def test_a_tool_using_chat_shows_what_followed_its_input(tmp_path):
    """The tool calls and results production's answer drew on: shown after the input, never sent."""
    from core.config.prompts import render_messages
    from core.config.schema import PromptConfig
    from tui.screens.review.view import case_head

    db = new_db(tmp_path)
    turns = [{"role": "system", "content": "You are a travel agent."}, {"role": "user", "content": "Weather in Paris?"},
             {"role": "assistant", "content": None, "tool_calls": [
                 {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
             {"role": "tool", "tool_call_id": "c1", "content": '{"temp": 12} [bold]x[/bold] \x1b[2J'}]
    case = {"id": "t1", "input_text": "Weather in Paris?", "expected_output": "It is 12°C.", "task_type": "qa",
            "metadata": {"messages": turns}}
    vid = add_dataset(db, [case])
    add_run(db, vid, ["A"], run_id="r-tools")
    add_result(db, "r-tools", "t1", "A", output="I cannot check.")
    head = case_head(case_detail(db, build_index(db, "r-tools"), "t1")).plain
    assert ("Weather in Paris?\n\nAfter the input: tool calls and results (not sent to the model)\n"
            'assistant: calls get_weather({"city": "Paris"})\ntool: {"temp": 12} [bold]x[/bold] \\x1b[2J') in head
    # A prompt sends the conversation up to the input, not what followed it.
    assert render_messages(PromptConfig(conversation=True), case) == [
        {"role": "system", "content": "You are a travel agent."}, {"role": "user", "content": "Weather in Paris?"}]


def test_override_shows_who_and_why(tmp_path):
    db = new_db(tmp_path)
    build_qa_run(db)
    index = build_index(db, "r-qa")
    rid = case_detail(db, index, "c9").answers[1].result_id
    override_verdict(db, rid, passed=True, reason="synonym", annotator="ana")
    b = case_detail(db, index, "c9").answers[1]
    assert (b.verdict, b.score, b.override.reason, b.override.annotator, b.override.replaces) == (
        "pass", 1.0, "synonym", "ana", "fail")


def test_json_answers_are_pretty_printed_and_baseline_columns_interleave(tmp_path):
    db = new_db(tmp_path)
    vid = add_dataset(db, [{"id": "x", "input_text": "Invoice", "task_type": "invoice",
                            "expected_output": {"vendor": "ACME", "total": 3}}])
    add_run(db, vid, ["m1", "m2"], run_id="r-new")
    add_run(db, vid, ["m1"], run_id="r-old")
    add_result(db, "r-new", "x", "m1", output='{"vendor":"ACME","total":3}')
    add_result(db, "r-old", "x", "m1", output="no json here")
    d = case_detail(db, build_index(db, "r-new", baseline="r-old"), "x")
    assert d.expected == '{\n  "total": 3,\n  "vendor": "ACME"\n}'  # as frozen: keys sorted
    assert [(a.model, a.baseline) for a in d.answers] == [("m1", False), ("m1", True), ("m2", False)]
    assert d.answers[0].is_json and d.answers[0].output.startswith("{\n")
    assert d.answers[2].status == "missing" and d.answers[2].verdict == "missing"
    assert pretty("[1, 2]") == ("[\n  1,\n  2\n]", True) and pretty("42") == ("42", False)


def test_scorer_details_by_kind():
    fields = scorer_detail({"scorer": "extraction", "status": "ok", "score": 0.5, "passed": False, "details": {
        "fields": {"vendor": {"verdict": "match", "expected": "A", "got": "A"},
                   "total": {"verdict": "wrong", "expected": "3", "got": "4"},
                   "note": {"verdict": "absent", "expected": None, "got": None}}, "extra_keys": ["x"]}})
    assert [(f.name, f.verdict, f.got) for f in fields.fields] == [("vendor", "match", "A"), ("total", "wrong", "4")]
    assert fields.extra_keys == ["x"]
    label = scorer_detail({"scorer": "classification", "status": "ok", "score": 0.0, "passed": False,
                           "details": {"expected": "pos", "predicted": "meh", "valid_label": False}})
    assert (label.expected, label.predicted, label.valid_label) == ("pos", "meh", False)
    asserts = scorer_detail({"scorer": "assert", "status": "ok", "score": 0.5, "passed": False, "details": {
        "assertions": [{"type": "contains", "pass": False, "reason": "no 'x'", "weight": 1, "score": 0}]}})
    assert [(a.type, a.passed, a.reason) for a in asserts.assertions] == [("contains", False, "no 'x'")]
    judge = scorer_detail({"scorer": "rubric", "status": "ok", "score": 1.0, "passed": True,
                           "details": {"reason": "polite and correct"}})
    assert judge.reason == "polite and correct" and judge.predicted is None


def test_word_diff():
    pieces = word_diff("the cat sat on the mat", "the dog sat on a mat!")
    assert [(p.op, p.text) for p in pieces] == [
        ("equal", "the "), ("delete", "cat"), ("insert", "dog"), ("equal", " sat on "), ("delete", "the"),
        ("insert", "a"), ("equal", " mat"), ("insert", "!")]
    for a, b in (("", "x y"), ("a\nb  c", "a b c"), ("same", "same"), ("[/] {\"k\": 1}", "{\"k\": 2}")):
        pieces = word_diff(a, b)
        assert "".join(p.text for p in pieces if p.op != "insert") == a
        assert "".join(p.text for p in pieces if p.op != "delete") == b
    assert word_diff("", "") == []


def test_flag_case_puts_it_in_the_adjudication_queue(tmp_path):
    import pytest

    from core.errors import NotFoundError
    from core.labeling.flags import flag_case
    from core.labeling.overview import label_overview

    db = new_db(tmp_path)
    build_qa_run(db)
    ds = db.execute("SELECT dataset_id FROM runs WHERE id = 'r-qa'").fetchone()[0]
    flag_case(db, ds, "c3", "ana", "  truth looks wrong ")
    assert label_overview(db, ds, 1).needs_adjudication == ["c3"]
    assert db.execute("SELECT note FROM label_events WHERE kind = 'flag'").fetchall() == [("truth looks wrong",)]
    with pytest.raises(NotFoundError):
        flag_case(db, ds, "nope", "ana")
