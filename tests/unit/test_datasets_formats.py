"""The streaming readers: JSON arrays decoded across any chunk boundary with exact line:column."""

from __future__ import annotations

import io
import json
import random

import pytest

from core.errors import InputError
from core.datasets.formats import detect_flavour, object_cell, open_csv, read_json_array, read_jsonl

CHUNKS = (1, 2, 3, 7, 64, 1 << 16)


def _records(n: int) -> list[dict]:
    rng = random.Random(n)
    return [{"id": i, "input_text": "héllo € 😀 " * rng.randint(0, 20) + '\\"quoted\\"\n', "x": rng.random() * 1e6,
             "nested": {"a": [1, 2, {"b": None}], "t": True}} for i in range(n)]


@pytest.mark.parametrize("indent", [None, 2])
@pytest.mark.parametrize("chunk", CHUNKS)
def test_json_array_across_chunk_boundaries(indent: int | None, chunk: int) -> None:
    recs = _records(120)
    text = json.dumps(recs, indent=indent, ensure_ascii=False)
    data = b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8")
    assert [r.data for r in read_json_array(io.BytesIO(data), "f", chunk_size=chunk)] == recs


def test_json_record_positions() -> None:
    text = '[\n  {"a": 1},\n  {"b": 2}, {"c": 3},\n\t{"d":\n 4}\n]'
    for chunk in CHUNKS:
        got = [(r.line, r.column) for r in read_json_array(io.BytesIO(text.encode()), "f", chunk_size=chunk)]
        assert got == [(2, 3), (3, 3), (3, 13), (4, 2)]


@pytest.mark.parametrize(("text", "where", "phrase"), [
    ('[\n{"a":1},\n{"a" 2}]', "f:3:6", "Expecting ':' delimiter"),
    ('[{"a": tru}]', "f:1:8", "Expecting value"),
    ('[{"a": 1} {"b": 2}]', "f:1:11", "expected ',' or ']' after the case that starts on line 1"),
    ('[{"a": "x\ny"}]', "f:1:10", "Invalid control character"),
    ('[12', "f:1:4", "not closed"),
    ('  "text"', "f:1:3", "expected a list of case objects"),
    ('[{"a":1},\n {"b": "caf\xe9"}]', "f:2:12", "not valid UTF-8 (byte 0xe9)"),
])
def test_json_errors_do_not_depend_on_chunking(text: str, where: str, phrase: str) -> None:
    for chunk in CHUNKS:
        with pytest.raises(InputError) as exc:
            list(read_json_array(io.BytesIO(text.encode("latin-1")), "f", chunk_size=chunk))
        assert str(exc.value).startswith(where + ": ") and phrase in str(exc.value), (chunk, str(exc.value))


def test_a_bad_byte_after_a_bad_record_reports_the_record_first() -> None:
    data = b'[{"a": 1} {"b": 2},\n{"c": "\xff"}]'
    with pytest.raises(InputError, match="expected ',' or ']'"):
        list(read_json_array(io.BytesIO(data), "f"))


def test_a_utf8_character_split_across_chunks() -> None:
    data = '[{"a": "€€€€€€"}]'.encode("utf-8")
    for chunk in (1, 2, 4, 5):
        assert [r.data for r in read_json_array(io.BytesIO(data), "f", chunk_size=chunk)] == [{"a": "€€€€€€"}]


def test_jsonl_skips_blank_lines_and_keeps_line_numbers() -> None:
    data = b'\xef\xbb\xbf{"a": 1}\r\n\r\n   \n{"a": 2}\n'
    assert [(r.line, r.data) for r in read_jsonl(io.BytesIO(data), "f")] == [(1, {"a": 1}), (4, {"a": 2})]


def test_csv_rows_start_lines_count_quoted_line_breaks() -> None:
    data = b'id,text\r\na,"two\r\nlines"\r\n\r\nb,plain\r\n'
    table = open_csv(io.BytesIO(data), "f")
    assert table.header == ["id", "text"]
    assert [(r.line, r.data) for r in table.rows] == [(2, {"id": "a", "text": "two\r\nlines"}), (5, {"id": "b", "text": "plain"})]


def test_csv_whitespace_only_lines_are_blank() -> None:
    table = open_csv(io.BytesIO(b"id,text\n  \na,b\n\t\n"), "f")
    assert [(r.line, r.data) for r in table.rows] == [(3, {"id": "a", "text": "b"})]


def test_csv_duplicate_header() -> None:
    with pytest.raises(InputError, match="f:1: duplicate column 'a' in the header"):
        open_csv(io.BytesIO(b"a,b,a\n1,2,3\n"), "f")


def test_object_cell() -> None:
    assert object_cell('{"a": 1}') == {"a": 1}
    assert object_cell("[1]") == "[1]"
    assert object_cell("{oops") == "{oops"
    assert object_cell("42") == "42"


def test_detect_flavour() -> None:
    assert detect_flavour({"input": "x", "target": "y"}) == "inspect"
    assert detect_flavour({"input": [], "ideal": "y"}) == "openai-evals"
    assert detect_flavour({"input_text": "x", "input": "y", "target": "z"}) is None
    assert detect_flavour({"messages": [{"role": "user", "content": "x"}]}) == "chat"
    assert detect_flavour({"messages": "x"}) is None and detect_flavour({"input_text": "x", "messages": []}) is None
    assert detect_flavour(["input", "target"]) is None
