"""Sampling production logs: exact quotas, redistribution, rounding, dedup, provenance, reproducibility."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from core.errors import InputError, UsageError
from core.datasets.sampling import (
    check_new_name, equal_quotas, even_split, parse_fields, plan_sample, proportional_quotas, write_sample,
)
from store import connect
from store import datasets as store_ds

# qa: 200 distinct prompts (+2 duplicates), classification: 150, summary: 20 (a small stratum).
SIZES = {"qa": 200, "classification": 150, "summary": 20}


def _records() -> list[dict]:
    recs = []
    for task, n in SIZES.items():
        for i in range(n):
            rec = {"request_id": f"{task}-{i}", "prompt": f"{task} question number {i}?", "task_type": task,
                   "timestamp": f"2024-05-01T10:{i % 60:02d}:00Z", "tier": "gold" if i % 2 else "free"}
            if i % 4:  # one in four has no verified output
                rec["verified_output"] = f"answer {i}"
            recs.append(rec)
    # Duplicates come after the originals: an exact one and one equal after whitespace/case folding.
    recs.append({"request_id": "dup-exact", "prompt": "qa question number 3?", "task_type": "qa"})
    recs.append({"request_id": "dup-norm", "prompt": "  QA question\tnumber   4? ", "task_type": "qa"})
    return recs


def write_log(path: Path, recs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return write_log(tmp_path / "logs.jsonl", _records())


@pytest.fixture
def db(tmp_path: Path):
    conn = connect(tmp_path / "assay.db")
    yield conn
    conn.close()


def figures(plan) -> dict[str, tuple[int, ...]]:
    return {s.stratum: (s.seen, s.duplicates, s.available, s.quota, s.sampled) for s in plan.strata}


# --- quotas -----------------------------------------------------------------------------------


def test_equal_quotas_redistribute_what_a_small_stratum_cannot_fill() -> None:
    assert equal_quotas({"a": 500, "b": 500, "c": 40}, 300) == {"a": 130, "b": 130, "c": 40}
    # Two rounds of redistribution: c fills 5, then b fills 40, a takes the rest.
    assert equal_quotas({"a": 1000, "b": 40, "c": 5}, 120) == {"a": 75, "b": 40, "c": 5}
    # A remainder that cannot be split goes one each in name order.
    assert equal_quotas({"b": 10, "a": 10, "c": 10}, 7) == {"a": 3, "b": 2, "c": 2}
    # Asking for more than there is takes everything.
    assert equal_quotas({"a": 3, "b": 4}, 100) == {"a": 3, "b": 4}


def test_even_split() -> None:
    assert even_split(["c", "a", "b"], 10) == {"a": 4, "b": 3, "c": 3}


def test_proportional_quotas_use_largest_remainders() -> None:
    assert proportional_quotas({"a": 50, "b": 30, "c": 20}, 10) == {"a": 5, "b": 3, "c": 2}
    # 21.62 / 16.22 / 2.16 -> floors 21/16/2 (39), the one left goes to the largest remainder (a).
    assert proportional_quotas({"a": 200, "b": 150, "c": 20}, 40) == {"a": 22, "b": 16, "c": 2}
    # 3.5 / 3.5 / 3.0: a tie on remainder goes to the bigger stratum, then by name.
    assert proportional_quotas({"a": 7, "b": 7, "c": 6}, 10) == {"a": 4, "b": 3, "c": 3}
    assert proportional_quotas({"x": 1, "y": 2, "z": 97}, 10) == {"x": 0, "y": 0, "z": 10}
    assert sum(proportional_quotas({"a": 13, "b": 17, "c": 19, "d": 23}, 29).values()) == 29


# --- plans ------------------------------------------------------------------------------------


def test_equal_plan_figures(log: Path) -> None:
    plan = plan_sample(log, size=90, by="task_type", seed=7)
    assert figures(plan) == {
        "classification": (150, 0, 150, 30, 35),
        "qa": (202, 2, 200, 30, 35),
        "summary": (20, 0, 20, 30, 20),
    }
    assert (plan.seen, plan.available, plan.sampled) == (372, 370, 90)
    assert (plan.duplicates_exact, plan.duplicates_normalised) == (1, 1)
    assert len(plan.selected) == 90


def test_proportional_plan_figures(log: Path) -> None:
    plan = plan_sample(log, size=40, by="task_type", seed=7, proportional=True)
    assert {s.stratum: (s.quota, s.sampled) for s in plan.strata} == {
        "classification": (16, 16), "qa": (22, 22), "summary": (2, 2)}


def test_same_seed_same_sample_whatever_the_file_order(log: Path, tmp_path: Path) -> None:
    a = plan_sample(log, size=60, seed=7)
    b = plan_sample(log, size=60, seed=7)
    assert a.selected == b.selected
    c = plan_sample(log, size=60, seed=8)
    assert set(c.selected.values()) != set(a.selected.values())
    # Same records in another order (duplicates still after their originals): same inputs chosen.
    recs = _records()
    originals, dups = recs[:-2], recs[-2:]
    random.Random(1).shuffle(originals)
    shuffled = plan_sample(write_log(tmp_path / "shuffled.jsonl", originals + dups), size=60, seed=7)
    assert set(shuffled.selected.values()) == set(a.selected.values())


def test_stratify_by_a_metadata_key(log: Path) -> None:
    plan = plan_sample(log, size=10, by="tier", seed=1)
    # The two duplicates have no tier but are dropped before they could form a stratum of their own.
    assert figures(plan) == {"(none)": (2, 2, 0, 4, 0), "free": (185, 0, 185, 3, 5), "gold": (185, 0, 185, 3, 5)}


def test_stratify_by_a_key_no_record_has(log: Path) -> None:
    with pytest.raises(UsageError, match="has a 'region' field"):
        plan_sample(log, size=10, by="region")


def test_write_sample_keeps_provenance_and_first_of_duplicates(log: Path, db) -> None:
    plan = plan_sample(log, size=1000, seed=3)
    version = write_sample(db, plan, "prod")
    assert (version.version, version.reason, version.n_cases) == (1, "sample", 370)
    cases = {c.case_id: c for c in store_ds.iter_cases(db, store_ds.dataset_id(db, "prod"))}
    assert "dup-exact" not in cases and "dup-norm" not in cases and "qa-3" in cases and "qa-4" in cases
    qa1 = cases["qa-1"]
    assert qa1.metadata == {"tier": "gold", "source": "production", "timestamp": "2024-05-01T10:01:00Z",
                            "request_id": "qa-1"}
    assert (qa1.expected, qa1.task_type) == ("answer 1", "qa")
    # No verified output: an unlabeled case.
    assert cases["qa-0"].expected is None
    assert {s.stratum: s.labeled for s in plan.strata} == {"classification": 112, "qa": 150, "summary": 15}
    # Rows come in log order.
    assert list(cases)[:3] == ["qa-0", "qa-1", "qa-2"]


def test_sampled_ids_match_the_plan(log: Path, db) -> None:
    plan = plan_sample(log, size=30, seed=11)
    write_sample(db, plan, "prod")
    rows = list(store_ds.iter_cases(db, store_ds.dataset_id(db, "prod")))
    assert len(rows) == 30
    assert {r.task_type for r in rows} == {"qa", "classification", "summary"}
    assert sum(r.expected is not None for r in rows) == sum(s.labeled for s in plan.strata)


def test_csv_logs_with_field_mapping(tmp_path: Path, db) -> None:
    path = tmp_path / "logs.csv"
    path.write_text(
        "req,question,answer,kind,when\n"
        "r1,What is 2+2?,4,math,2024-01-01\n"
        'r2,"Classify: ""ok""","{""label"": ""neutral""}",cls,2024-01-02\n'
        "r3,Open question,,math,\n"
        ",No request id,x,cls,\n"
    )
    fields = parse_fields("request_id=req,prompt=question,verified_output=answer,task_type=kind,timestamp=when")
    plan = plan_sample(path, size=10, fields=fields, seed=0)
    assert figures(plan) == {"cls": (2, 0, 2, 5, 2), "math": (2, 0, 2, 5, 2)}
    write_sample(db, plan, "csvlog")
    got = {c.input_text: c for c in store_ds.iter_cases(db, store_ds.dataset_id(db, "csvlog"))}
    assert got['Classify: "ok"'].expected == {"label": "neutral"}
    assert got["Open question"].expected is None and got["Open question"].metadata == {"source": "production", "request_id": "r3"}
    from core.common.hashing import case_id_for

    assert got["No request id"].case_id == case_id_for("No request id")
    assert got["What is 2+2?"].metadata["timestamp"] == "2024-01-01"


@pytest.mark.parametrize(("lines", "fields", "where", "message"), [
    (['{"prompt": "a"}', '{"task_type": "qa"}'], None, ":2: ",
     "missing required field 'prompt'; the record has keys 'task_type' (use --field prompt=KEY)"),
    (['{"messages": [{"role": "system", "content": "s"}]}'], None, ":1: ",
     "field 'messages': the message list has no user message"),
    (['{"question": "a"}', '{"question": "  "}'], "prompt=question", ":2: ", "field 'question': must not be blank"),
    (['{"prompt": "a", "difficulty": "extreme"}'], None, ":1: ", "field 'difficulty'"),
    (['{"prompt": "a", "request_id": 5}', '{"prompt": "b", "request_id": "5"}'], None, ":2: ",
     "duplicate request id '5' (first seen on line 1)"),
    (['{"prompt": "a"}', "not json"], None, ":2:1: ", "invalid JSON"),
])
def test_bad_log_lines(tmp_path: Path, db, lines: list[str], fields: str | None, where: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as exc:
        plan_sample(path, size=5, fields=parse_fields(fields))
    assert f"{path}{where}" in str(exc.value) and message in str(exc.value)


def test_chat_logs_give_the_last_user_message_as_prompt_and_keep_the_conversation(tmp_path: Path, db) -> None:
    def chat(*turns: tuple[str, str], **rest) -> dict:
        return {"messages": [{"role": r, "content": c} for r, c in turns], **rest}

    log = write_log(tmp_path / "chat.jsonl", [
        chat(("system", "You route tickets."), ("user", "I was charged twice"), ("assistant", "billing"),
             request_id="a", metadata={"intent": "billing"}),
        # Same last message, other conversations: not duplicates of each other.
        chat(("user", "Can I get a refund?"), ("assistant", "Which order?"), ("user", "yes"), request_id="b",
             metadata={"intent": "billing"}),
        chat(("user", "Is the app down?"), ("assistant", "For you?"), ("user", "yes"), request_id="c",
             metadata={"intent": "bug"}),
        # The very same conversation again (production answered it differently): a duplicate.
        chat(("user", "Is the app down?"), ("assistant", "For you?"), ("user", "yes"), ("assistant", "No."),
             request_id="d", metadata={"intent": "bug"}),
        # Production answered with a tool call: that is its output (hidden in blind labeling), not a turn.
        chat(("user", "Book a flight"), request_id="f", metadata={"intent": "other"}) | {"messages": [
            {"role": "user", "content": "Book a flight"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "function": {"name": "book"}}]}]},
        # A conversation content given as parts, with no answer logged.
        chat(("user", "hello"), request_id="e", metadata={"intent": "other"}) | {
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Export fails with 500"}]}]},
    ])
    plan = plan_sample(log, size=10, by="intent")
    assert figures(plan) == {"billing": (2, 0, 2, 4, 2), "bug": (2, 1, 1, 3, 1), "other": (2, 0, 2, 3, 2)}
    write_sample(db, plan, "chats")
    cases = {c.case_id: c for c in store_ds.iter_cases(db, store_ds.dataset_id(db, "chats"))}
    assert sorted(cases) == ["a", "b", "c", "e", "f"]
    assert cases["f"].metadata["messages"] == [{"role": "user", "content": "Book a flight"}]
    assert cases["f"].metadata["production_output"] == [{"id": "c", "function": {"name": "book"}}]
    a = cases["a"]
    assert (a.input_text, a.expected) == ("I was charged twice", None)  # production's answer is not ground truth
    assert a.metadata == {"intent": "billing", "source": "production", "request_id": "a",
                          "messages": [{"role": "system", "content": "You route tickets."},
                                       {"role": "user", "content": "I was charged twice"}],
                          "production_output": "billing"}
    assert cases["b"].input_text == cases["c"].input_text == "yes"
    assert cases["e"].input_text == "Export fails with 500" and "production_output" not in cases["e"].metadata


def test_a_prompt_completion_log_s_completion_is_production_s_answer(tmp_path: Path, db) -> None:
    log = write_log(tmp_path / "pc.jsonl", [
        {"request_id": "a", "prompt": "Capital of France?", "completion": "Paris", "task_type": "qa"},
        {"request_id": "b", "prompt": [{"role": "user", "content": "2+2?"}],
         "completion": [{"role": "assistant", "content": "4"}], "task_type": "qa"},
    ])
    write_sample(db, plan_sample(log, size=2), "pc")
    cases = {c.case_id: c for c in store_ds.iter_cases(db, store_ds.dataset_id(db, "pc"))}
    assert (cases["a"].input_text, cases["a"].expected, cases["a"].metadata["production_output"]) == (
        "Capital of France?", None, "Paris")
    assert (cases["b"].input_text, cases["b"].metadata["production_output"]) == ("2+2?", "4")
    assert "completion" not in cases["a"].metadata


def test_a_json_list_log_is_read_like_jsonl(tmp_path: Path, db) -> None:
    import json

    path = tmp_path / "export.json"
    path.write_text(json.dumps([{"request_id": f"r{i}", "prompt": f"question {i}", "task_type": "qa"}
                                for i in range(5)]))
    plan = plan_sample(path, size=3)
    assert (plan.format, figures(plan)) == ("json", {"qa": (5, 0, 5, 3, 3)})
    path.write_text('[{"prompt": "a"}, {"task_type": "qa"}]')
    with pytest.raises(InputError, match=r"export.json:1:\d+: missing required field 'prompt'"):
        plan_sample(path, size=3)


def test_nested_logs_are_mapped_by_dotted_paths(tmp_path: Path, db) -> None:
    """A gateway's log (request and response objects): --field takes paths into them, --by too."""
    log = write_log(tmp_path / "gateway.jsonl", [
        {"id": f"req-{i}", "request": {"model": "gpt-4o", "messages": [
            {"role": "system", "content": "Route it."}, {"role": "user", "content": f"ticket {i}"}]},
         "response": {"choices": [{"message": {"role": "assistant", "content": kind}}]},
         "properties": {"task": kind, "team": "support"}}
        for i, kind in enumerate(["billing", "bug", "billing", "bug"])
    ])
    fields = parse_fields("request_id=id,prompt=request.messages,production_output=response.choices.0.message.content,"
                          "task_type=properties.task")
    plan = plan_sample(log, size=4, by="properties.team", fields=fields)
    assert figures(plan) == {"support": (4, 0, 4, 4, 4)}
    plan = plan_sample(log, size=4, fields=fields)
    assert figures(plan) == {"billing": (2, 0, 2, 2, 2), "bug": (2, 0, 2, 2, 2)}
    write_sample(db, plan, "gateway")
    case = next(c for c in store_ds.iter_cases(db, store_ds.dataset_id(db, "gateway")) if c.case_id == "req-1")
    assert (case.input_text, case.task_type, case.expected) == ("ticket 1", "bug", None)
    # What was mapped left its place (production's answer too, which blind labeling hides); the rest
    # of the record stays as it was.
    assert case.metadata == {
        "request": {"model": "gpt-4o"},
        "response": {"choices": [{"message": {"role": "assistant"}}]},
        "properties": {"team": "support"},
        "messages": [{"role": "system", "content": "Route it."}, {"role": "user", "content": "ticket 1"}],
        "source": "production", "request_id": "req-1", "production_output": "bug",
    }


def test_lift_paths() -> None:
    from core.datasets.formats import lift_paths

    data = {"a": {"b": 1, "c": {"d": 2}}, "x.y": 3, "l": [{"k": 4}]}
    assert lift_paths(data, ["a.c.d", "x.y", "l.0.k", "a.zz", "l.5"]) == {
        "a": {"b": 1}, "x.y": 3, "l": [{}], "a.c.d": 2, "l.0.k": 4}
    assert lift_paths({"l": [1, 2]}, ["l.0"]) == {"l": [1, 2], "l.0": 1}  # a list keeps its length
    assert lift_paths(data, ["a.b", "a.c.d"]) == {"x.y": 3, "l": [{"k": 4}], "a.b": 1, "a.c.d": 2}
    assert data == {"a": {"b": 1, "c": {"d": 2}}, "x.y": 3, "l": [{"k": 4}]}  # not changed in place


def test_existing_dataset_name_is_refused(log: Path, db) -> None:
    plan = plan_sample(log, size=5)
    write_sample(db, plan, "prod")
    with pytest.raises(UsageError, match="already exists"):
        write_sample(db, plan, "prod")
    assert store_ds.count_cases(db, store_ds.dataset_id(db, "prod")) == 5


def test_a_taken_or_bad_name_is_refused_before_the_log_is_read(log: Path, db) -> None:
    check_new_name(db, "prod")
    write_sample(db, plan_sample(log, size=5), "prod")
    with pytest.raises(UsageError, match="'prod' already exists; choose another --name"):
        check_new_name(db, "prod")
    with pytest.raises(UsageError, match="must not be empty"):
        check_new_name(db, " ")


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_nul_byte_in_the_log_is_refused_by_line(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"log{suffix}"
    if suffix == ".csv":
        path.write_bytes(b"request_id,prompt\nr1,hello\nr2,bro\x00ken\n")
    else:
        path.write_bytes(b'{"request_id": "r1", "prompt": "hello"}\n{"request_id": "r2", "prompt": "bro\x00ken"}\n')
    with pytest.raises(InputError, match="NUL byte") as exc:
        plan_sample(path, size=5)
    assert exc.value.line == (3 if suffix == ".csv" else 2)


def test_log_changed_between_passes(log: Path, db) -> None:
    plan = plan_sample(log, size=5, seed=2)
    recs = _records()
    for r in recs:
        r["prompt"] = r["prompt"].upper() + " changed"
    write_log(log, recs)
    with pytest.raises(UsageError, match="changed while it was being sampled"):
        write_sample(db, plan, "prod")
    assert db.execute("SELECT COUNT(*) FROM datasets").fetchone()[0] == 0


def test_report_is_plain_data(log: Path) -> None:
    report = plan_sample(log, size=90, seed=7).report()
    assert json.loads(json.dumps(report)) == report
    assert report["strata"][2] == {"stratum": "summary", "seen": 20, "duplicates": 0, "available": 20,
                                   "quota": 30, "sampled": 20, "labeled": report["strata"][2]["labeled"]}
