"""Importing good files: formats, encodings, field rules, mapping, append, all-or-nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.datasets.export import export_dataset
from core.datasets.formats import FIELDS
from core.datasets.importing import import_file, parse_pairs
from core.errors import InputError, NotFoundError, UsageError
from core.common.hashing import case_id_for
from store import connect
from store import datasets as store_ds

GOOD = Path(__file__).resolve().parent.parent / "data" / "good"


@pytest.fixture
def db(tmp_path: Path):
    conn = connect(tmp_path / "assay.db")
    yield conn
    conn.close()


def cases(db, name: str) -> list[dict]:
    return [c.as_case_dict() for c in store_ds.iter_cases(db, store_ds.dataset_id(db, name))]


def counts(db) -> tuple[int, int, int]:
    return tuple(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("datasets", "cases", "dataset_versions"))


def test_jsonl_field_rules(db) -> None:
    result = import_file(db, GOOD / "cases.jsonl", "seed")
    assert (result.imported, result.labeled, result.unlabeled, result.version) == (4, 3, 1, 1)
    math, summary, extract, cls = cases(db, "seed")
    # An integer id keeps its text; a number expected output becomes its text.
    assert (math["id"], math["expected_output"], math["difficulty"]) == ("7", "42", "easy")
    # Unknown top-level keys go to metadata.
    assert math["metadata"] == {"source": "gsm-style"}
    # No id: derived from the input, so it is stable across imports.
    assert summary["id"] == case_id_for("Summarise: the meeting moved to Tuesday.")
    assert summary["expected_output"] is None and summary["tags"] == ["short"]
    assert extract["expected_output"] == {"vendor": "ACME", "total": 12.5}
    assert extract["metadata"] == {"split": "dev"}
    assert cls["tags"] == ["sentiment", "en"] and cls["task_type"] == "classification"


def test_import_takes_a_version(db) -> None:
    import_file(db, GOOD / "cases.jsonl", "seed")
    (version,) = store_ds.list_versions(db, store_ds.dataset_id(db, "seed"))
    assert (version["version"], version["n_cases"], version["n_labeled"], version["reason"]) == (1, 4, 3, "import")


def test_stable_ids_across_imports(db, tmp_path: Path) -> None:
    import_file(db, GOOD / "cases.jsonl", "one")
    reordered = tmp_path / "reordered.jsonl"
    reordered.write_text("".join(reversed((GOOD / "cases.jsonl").read_text().splitlines(keepends=True))))
    import_file(db, reordered, "two")
    assert sorted(c["id"] for c in cases(db, "one")) == sorted(c["id"] for c in cases(db, "two"))


SAME_CASES = [
    {"id": "a", "input_text": "Ünïcode first", "expected_output": "x"},
    {"id": "b", "input_text": "second", "expected_output": None},
]


def _write_bom_crlf(path: Path, fmt: str) -> None:
    if fmt == "json":
        text = json.dumps(SAME_CASES, indent=2, ensure_ascii=False)
    elif fmt == "jsonl":
        text = "\n".join(json.dumps(c, ensure_ascii=False) for c in SAME_CASES) + "\n"
    else:
        text = "id,input_text,expected_output\na,Ünïcode first,x\nb,second,\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_bom_and_crlf(db, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"bom.{fmt}"
    _write_bom_crlf(path, fmt)
    import_file(db, path, "bom")
    got = cases(db, "bom")
    assert [(c["id"], c["input_text"], c["expected_output"]) for c in got] == [
        ("a", "Ünïcode first", "x"), ("b", "second", None)]


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_mapping_applies_to_every_format(db, tmp_path: Path, fmt: str) -> None:
    rows = [{"prompt": "Capital of Peru?", "answer": "Lima", "kind": "qa"},
            {"prompt": "2+2", "answer": "4", "kind": "math"}]
    path = tmp_path / f"mapped.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps(rows))
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        path.write_text("prompt,answer,kind\n" + "".join(f"{r['prompt']},{r['answer']},{r['kind']}\n" for r in rows))
    mapping = parse_pairs("input_text=prompt,expected_output=answer,task_type=kind", FIELDS, "--map")
    import_file(db, path, "m", mapping=mapping)
    got = cases(db, "m")
    assert [(c["input_text"], c["expected_output"], c["task_type"], c["metadata"]) for c in got] == [
        ("Capital of Peru?", "Lima", "qa", {}), ("2+2", "4", "math", {})]


def test_csv_cells(db, tmp_path: Path) -> None:
    import_file(db, GOOD / "mapped.csv", "csv", mapping={"input_text": "question", "expected_output": "answer"},
                task_type="qa")
    paris, classify, unanswered = cases(db, "csv")
    # Unmapped columns are metadata; an empty cell is absent.
    assert paris["metadata"] == {"category": "qa", "customer": "acme"}
    assert unanswered["metadata"] == {"category": "qa"}
    assert paris["expected_output"] == "Paris" and paris["task_type"] == "qa"
    # A cell holding a JSON object is an object expected output; an empty one is unlabeled.
    assert classify["expected_output"] == {"label": "positive"}
    assert classify["input_text"] == 'Classify: "great, thanks"'
    assert unanswered["expected_output"] is None


def test_csv_object_cells_only_for_objects(db, tmp_path: Path) -> None:
    path = tmp_path / "cells.csv"
    path.write_text(
        'input_text,expected_output,tags,metadata,difficulty,excluded\n'
        'one,"[1, 2]","a, b",,,\n'
        'two,{not json,"[""x""]","{""k"": 1}",HARD,yes\n'
        'three,"  {""a"": {""b"": [1]}}",,,,\n'
    )
    import_file(db, path, "cells")
    one, two, three = cases(db, "cells")
    assert one["expected_output"] == "[1, 2]" and one["tags"] == ["a", "b"]
    assert two["expected_output"] == "{not json" and two["tags"] == ["x"]
    assert two["metadata"] == {"k": 1} and two["difficulty"] == "hard" and two["excluded"] is True
    assert three["expected_output"] == {"a": {"b": [1]}}


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("semi.csv", 'input_text;expected_output\n"a; b";1,5\nc;2\n', [("a; b", "1,5"), ("c", "2")]),
    ("tabs.tsv", "input_text\texpected_output\na, b\t1\n", [("a, b", "1")]),
    ("comma.csv", 'input_text,expected_output\na;b,1\n', [("a;b", "1")]),  # a comma header stays comma
])
def test_csv_separated_by_semicolons_or_tabs(db, tmp_path: Path, name: str, text: str, expected: list) -> None:
    path = tmp_path / name
    path.write_text(text)
    import_file(db, path, "sep")
    assert [(c["input_text"], c["expected_output"]) for c in cases(db, "sep")] == expected


def test_default_task_type_only_fills_missing(db) -> None:
    import_file(db, GOOD / "cases.jsonl", "seed", task_type="default-task")
    assert [c["task_type"] for c in cases(db, "seed")] == ["math", "summarization", "extraction", "classification"]
    import_file(db, GOOD / "mapped.csv", "csv", mapping={"input_text": "question"}, task_type="qa")
    assert {c["task_type"] for c in cases(db, "csv")} == {"qa"}


def test_existing_name_is_refused(db) -> None:
    import_file(db, GOOD / "cases.jsonl", "seed")
    before = counts(db)
    with pytest.raises(UsageError, match="already exists.*--append"):
        import_file(db, GOOD / "cases.jsonl", "seed")
    assert counts(db) == before


def test_append_adds_cases_and_a_version(db, tmp_path: Path) -> None:
    import_file(db, GOOD / "cases.jsonl", "seed")
    more = tmp_path / "more.jsonl"
    more.write_text('{"id": "new-1", "input_text": "fresh"}\n')
    result = import_file(db, more, "seed", append=True)
    assert (result.imported, result.version, result.appended) == (1, 2, True)
    got = cases(db, "seed")
    assert len(got) == 5 and got[-1]["id"] == "new-1"


def test_append_duplicate_of_existing_case_is_all_or_nothing(db, tmp_path: Path) -> None:
    import_file(db, GOOD / "cases.jsonl", "seed")
    before = counts(db)
    more = tmp_path / "more.jsonl"
    more.write_text('{"id": "new-1", "input_text": "fresh"}\n{"id": "cls-1", "input_text": "clash"}\n')
    with pytest.raises(InputError) as exc:
        import_file(db, more, "seed", append=True)
    assert (exc.value.line, exc.value.problem) == (2, "case id 'cls-1' is already in dataset 'seed'")
    assert counts(db) == before


def test_append_to_a_missing_dataset(db) -> None:
    with pytest.raises(NotFoundError, match="no dataset named 'nope'"):
        import_file(db, GOOD / "cases.jsonl", "nope", append=True)


def test_late_error_rolls_back_every_chunk(db, tmp_path: Path) -> None:
    """Several insert chunks are written before the bad record; none of them survive."""
    n = store_ds.CHUNK * 2 + 500
    path = tmp_path / "big.jsonl"
    with path.open("w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"c{i}", "input_text": f"q{i}"}) + "\n")
        f.write('{"id": "c10", "input_text": "again"}\n')
    with pytest.raises(InputError) as exc:
        import_file(db, path, "big")
    # The duplicate sits in an earlier, already inserted chunk: found through SQLite, both lines named.
    assert exc.value.line == n + 1
    assert exc.value.problem == "duplicate case id 'c10' (first seen on line 11)"
    assert counts(db) == (0, 0, 0)


NUL_FILES = {
    # format: (content with a NUL on line 3, its column)
    "csv": (b"id,input_text\na,fine\nb,bro\x00ken\n", 6),
    "jsonl": (b'{"id": "a", "input_text": "fine"}\n\n{"id": "b", "input_text": "bro\x00ken"}\n', 31),
    "json": (b'[\n  {"id": "a", "input_text": "fine"},\n  {"id": "b", "input_text": "bro\x00ken"}\n]\n', 33),
}


@pytest.mark.parametrize("fmt", sorted(NUL_FILES))
def test_a_nul_byte_means_a_binary_file_and_nothing_is_imported(db, tmp_path: Path, fmt: str) -> None:
    """csv and json would pass a NUL through into a case; it marks a binary or corrupted file."""
    content, column = NUL_FILES[fmt]
    path = tmp_path / f"nul.{fmt}"
    path.write_bytes(content)
    with pytest.raises(InputError) as exc:
        import_file(db, path, "nul")
    assert (exc.value.file, exc.value.line, exc.value.column) == (str(path), 3, column)
    assert "NUL byte" in exc.value.problem and "binary or corrupted" in exc.value.problem
    assert counts(db) == (0, 0, 0)


@pytest.mark.parametrize("chunk_size", [1, 2, 7, 64])
def test_a_nul_in_a_json_array_is_found_across_read_chunks(chunk_size: int) -> None:
    import io

    from core.datasets.formats import read_json_array

    content, column = NUL_FILES["json"]
    records = read_json_array(io.BytesIO(content), "f.json", chunk_size=chunk_size)
    assert next(records).data == {"id": "a", "input_text": "fine"}  # the record before it still reads
    with pytest.raises(InputError) as exc:
        next(records)
    assert (exc.value.line, exc.value.column) == (3, column)


def test_earliest_problem_is_reported(db, tmp_path: Path) -> None:
    """A duplicate of an inserted chunk comes before a later invalid record in the same chunk."""
    path = tmp_path / "two.jsonl"
    lines = [json.dumps({"id": f"c{i}", "input_text": f"q{i}"}) for i in range(store_ds.CHUNK + 5)]
    lines.append(json.dumps({"id": "c1", "input_text": "dup"}))
    lines.append(json.dumps({"id": "zz", "input_text": 5}))
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as exc:
        import_file(db, path, "two")
    assert exc.value.line == store_ds.CHUNK + 6 and "duplicate case id 'c1'" in exc.value.problem


def test_inspect_samples_are_detected(db) -> None:
    result = import_file(db, GOOD / "inspect.jsonl", "insp")
    assert result.format == "jsonl (inspect)"
    plain, chat, untargeted = cases(db, "insp")
    assert (plain["id"], plain["input_text"], plain["expected_output"], plain["metadata"]) == ("1", "What is 2+2?", "4", {"level": 1})
    assert chat["input_text"] == "Capital of Peru?" and chat["expected_output"] == "Lima"
    assert chat["metadata"]["targets"] == ["Lima", "lima"] and chat["metadata"]["choices"] == ["Lima", "Cusco"]
    assert [m["role"] for m in chat["metadata"]["messages"]] == ["system", "user", "assistant", "user"]
    assert untargeted["expected_output"] is None


def test_openai_evals_samples(db) -> None:
    result = import_file(db, GOOD / "openai_evals.jsonl", "oe", fmt="openai-evals")
    assert result.format == "jsonl (openai-evals)"
    add, spell = cases(db, "oe")
    assert (add["input_text"], add["expected_output"]) == ("3 + 5?", "8")
    assert (spell["expected_output"], spell["metadata"]["targets"]) == ("tac", ["tac", "TAC"])
    assert add["id"] == case_id_for("3 + 5?")


def test_chat_conversations(db, tmp_path: Path) -> None:
    """The OpenAI chat (fine-tuning) format: the final assistant message is the expected output."""
    path = tmp_path / "chat.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"messages": [{"role": "system", "content": "Classify."}, {"role": "user", "content": "Charged twice"},
                      {"role": "assistant", "content": "billing"}], "id": "t1"},
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                      {"role": "user", "content": [{"type": "text", "text": "App crashes"}]}], "source": "logs"},
    ]) + "\n")
    result = import_file(db, path, "chat")
    assert result.format == "jsonl (chat)" and (result.labeled, result.unlabeled) == (1, 1)
    labeled, open_ = cases(db, "chat")
    assert (labeled["id"], labeled["input_text"], labeled["expected_output"]) == ("t1", "Charged twice", "billing")
    assert [m["role"] for m in labeled["metadata"]["messages"]] == ["system", "user"]  # the answer is not input
    assert (open_["input_text"], open_["expected_output"], open_["metadata"]["source"]) == ("App crashes", None, "logs")
    bad = tmp_path / "bad.jsonl"
    no_user = [{"role": "system", "content": "x"}, {"role": "assistant", "content": "y"}]
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "a"}]}) + "\n"
                   + json.dumps({"messages": no_user}) + "\n")
    with pytest.raises(InputError, match=r"bad.jsonl:2: field 'messages': the message list has no user message"):
        import_file(db, bad, "bad")
    assert "bad" not in [d["name"] for d in store_ds.dataset_summaries(db)]  # all or nothing


def test_prompt_completion_records(db, tmp_path: Path) -> None:
    """OpenAI's legacy fine-tuning format and TRL's prompt-completion datasets, standard and
    conversational: the prompt is the input, the completion the expected output."""
    path = tmp_path / "pc.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"prompt": "Capital of France?", "completion": "Paris", "id": "p1"},
        {"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}],
         "completion": [{"role": "assistant", "content": "4"}], "id": "p2", "source": "trl"},
        {"prompt": "Open question", "completion": None, "id": "p3"},
    ]) + "\n")
    result = import_file(db, path, "pc")
    assert result.format == "jsonl (prompt-completion)" and (result.labeled, result.unlabeled) == (2, 1)
    got = {c["id"]: c for c in cases(db, "pc")}
    assert (got["p1"]["input_text"], got["p1"]["expected_output"]) == ("Capital of France?", "Paris")
    assert (got["p2"]["input_text"], got["p2"]["expected_output"]) == ("2+2?", "4")
    assert [m["role"] for m in got["p2"]["metadata"]["messages"]] == ["system", "user"]
    assert got["p2"]["metadata"]["source"] == "trl" and got["p3"]["expected_output"] is None
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": [{"role": "system", "content": "x"}], '
                   '"completion": "y"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: field 'prompt': the message list has no user message"):
        import_file(db, bad, "bad")


def test_sample_without_user_message(db, tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text('{"input": [{"role": "system", "content": "x"}], "target": "y"}\n')
    with pytest.raises(InputError, match=r"s.jsonl:1: field 'input': the message list has no user message"):
        import_file(db, path, "s")


@pytest.mark.parametrize(("text", "message"), [
    ("input_text", "expected FIELD=NAME"),
    ("nope=x", "unknown field 'nope'"),
    ("input_text=a,input_text=b", "mapped twice"),
    ("input_text=a,expected_output=a", "mapped to two fields"),
])
def test_bad_mappings(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_pairs(text, FIELDS, "--map")


def test_unknown_extension_needs_a_format(db, tmp_path: Path) -> None:
    path = tmp_path / "cases.txt"
    path.write_text('[{"input_text": "x"}]')
    with pytest.raises(UsageError, match="pass --format"):
        import_file(db, path, "t")
    assert import_file(db, path, "t", fmt="json").imported == 1


def test_missing_file(db, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nope.jsonl: no such file"):
        import_file(db, tmp_path / "nope.jsonl", "t")


def test_export_current_cases_carry_expert_labels(db, tmp_path: Path) -> None:
    from store.db import write
    from store.labels import append_event

    import_file(db, GOOD / "cases.jsonl", "seed")
    ds_id = store_ds.dataset_id(db, "seed")
    summary_id = case_id_for("Summarise: the meeting moved to Tuesday.")
    with write(db):
        append_event(db, dataset_id=ds_id, case_id=summary_id, annotator="ann", kind="label", value="Moved to Tuesday.")
    out = tmp_path / "out.jsonl"
    with out.open("w") as f:
        export_dataset(db, "seed", "jsonl", f)
    exported = {c["id"]: c for c in map(json.loads, out.read_text().splitlines())}
    assert exported[summary_id]["expected_output"] == "Moved to Tuesday."
