"""Every malformed file in tests/data/bad/ is refused with exit 2, the exact file:line[:column] of
the bad record, a specific phrase, no traceback, and a database left exactly as it was."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli

DATA = Path(__file__).resolve().parent.parent / "data"
BAD = DATA / "bad"

# file, line, column (None: no column in the location), phrase of the problem
CORPUS = [
    # JSON: a top-level list of case objects; the location is where the bad record starts
    ("json_missing_comma.json", 3, 14, "invalid JSON: Expecting ',' delimiter"),
    ("json_top_level_object.json", 1, 1, "the top level is a JSON object"),
    ("json_empty_list.json", 1, 1, "the list is empty: nothing to import"),
    ("json_empty_file.json", 1, 1, "the file is empty: nothing to import"),
    ("json_missing_input.json", 3, 3, "missing required field 'input_text'"),
    ("json_wrong_type.json", 3, 37, "field 'input_text': input should be a valid string (got 42)"),
    ("json_duplicate_id.json", 4, 3, "duplicate case id 'a' (first seen on line 2)"),
    ("json_unclosed_list.json", 4, 1, "the list is not closed with ']'"),
    ("json_trailing_comma.json", 3, 1, "trailing comma before ']'"),
    ("json_record_not_object.json", 3, 3, "expected a JSON object (a case), got a string"),
    ("json_bad_difficulty.json", 2, 3, "field 'difficulty': input should be 'easy', 'medium' or 'hard' (got 'extreme')"),
    ("json_expected_list.json", 3, 3, "field 'expected_output': must be a string or a JSON object, not list"),
    ("json_bad_utf8.json", 3, 33, "not valid UTF-8 (byte 0xe9)"),
    ("json_raw_newline_in_string.json", 2, 38, "Invalid control character in a string"),
    ("json_nul_byte.json", 3, 33, "contains a NUL byte (0x00): this is a binary or corrupted file"),
    ("json_trailing_data.json", 4, 1, "unexpected data after the closing ']'"),
    ("json_multiline_record.json", 6, 3, "field 'tags': input should be a valid list (got 'not-a-list')"),
    ("json_bom_crlf_error.json", 3, 3, "field 'input_text': string should have at least 1 character"),
    # JSONL: one record per line, blank lines skipped; syntax errors also carry the column
    ("jsonl_syntax_error.jsonl", 3, 35, "invalid JSON: Expecting property name"),
    ("jsonl_not_object.jsonl", 2, None, "expected a JSON object (a case), got a list"),
    ("jsonl_duplicate_id.jsonl", 5, None, "duplicate case id 'a' (first seen on line 2)"),
    ("jsonl_missing_input.jsonl", 2, None, "missing required field 'input_text'; the record has keys 'id', 'prompt'"),
    ("jsonl_blank_input.jsonl", 2, None, "field 'input_text': must not be blank"),
    ("jsonl_only_blank_lines.jsonl", 1, None, "no records: nothing to import"),
    ("jsonl_bad_utf8.jsonl", 3, 30, "not valid UTF-8 (byte 0xef)"),
    ("jsonl_nul_byte.jsonl", 2, 31, "contains a NUL byte (0x00): this is a binary or corrupted file"),
    ("jsonl_tags_not_list.jsonl", 1, None, "field 'tags': input should be a valid list"),
    ("jsonl_metadata_not_object.jsonl", 2, None, "field 'metadata': input should be a valid dictionary"),
    ("jsonl_bom_crlf_error.jsonl", 3, 12, "invalid JSON: Expecting ',' delimiter"),
    ("jsonl_int_id_duplicate.jsonl", 2, None, "duplicate case id '7' (first seen on line 1)"),
    ("jsonl_expected_bool.jsonl", 1, None, "field 'expected_output': must be a string or a JSON object, not bool"),
    ("jsonl_implicit_id_duplicate.jsonl", 3, None, "(first seen on line 1; the id comes from input_text"),
    # CSV: header row; line = physical line where the bad record starts
    ("csv_unclosed_quote.csv", 3, None, "unbalanced quote"),
    ("csv_stray_quote.csv", 3, None, "malformed CSV: ',' expected after '\"'"),
    ("csv_too_many_fields.csv", 3, None, "row has 4 fields but the header has 3"),
    ("csv_too_few_fields.csv", 3, None, "row has 2 fields but the header has 3"),
    ("csv_no_input_column.csv", 1, None, "no 'input_text' column; the header has: id, question, answer"),
    ("csv_header_only.csv", 1, None, "only a header row: nothing to import"),
    ("csv_empty.csv", 1, None, "the file is empty: nothing to import"),
    ("csv_bad_utf8.csv", 4, 6, "not valid UTF-8 (byte 0xe9)"),
    ("csv_nul_byte.csv", 3, 6, "contains a NUL byte (0x00): this is a binary or corrupted file"),
    ("csv_duplicate_id.csv", 5, None, "duplicate case id 'a' (first seen on line 2)"),
    ("csv_empty_input.csv", 3, None, "missing required field 'input_text'"),
    ("csv_bad_difficulty.csv", 3, None, "field 'difficulty'"),
    ("csv_metadata_not_object.csv", 3, None, "field 'metadata': must be a JSON object (got '[1, 2]')"),
    ("csv_quote_merges_rows.csv", 3, None, "row has 4 fields but the header has 3 (the record runs to line 4"),
    ("csv_bad_excluded.csv", 3, None, "field 'excluded': expected true or false (got 'maybe')"),
]


def _counts(db: Path) -> tuple[int, ...]:
    conn = sqlite3.connect(db)
    try:
        return tuple(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                     for t in ("datasets", "cases", "dataset_versions", "version_cases", "case_blobs"))
    finally:
        conn.close()


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("corpus") / "assay.db"
    result = CliRunner().invoke(cli, ["--db", str(db), "import", str(DATA / "good" / "cases.jsonl"), "--name", "good"])
    assert result.exit_code == 0, result.output
    return db


def test_corpus_is_complete() -> None:
    files = sorted(p.name for p in BAD.iterdir() if not p.name.startswith("."))
    assert len(files) >= 24
    assert files == sorted(row[0] for row in CORPUS), "every bad file has exactly one expectation"
    assert {Path(f).suffix for f in files} == {".json", ".jsonl", ".csv"}


@pytest.mark.parametrize(("name", "line", "column", "phrase"), CORPUS, ids=[row[0] for row in CORPUS])
def test_bad_file_is_refused(seeded_db: Path, name: str, line: int, column: int | None, phrase: str) -> None:
    before = _counts(seeded_db)
    path = BAD / name
    result = CliRunner().invoke(cli, ["--db", str(seeded_db), "import", str(path), "--name", "bad"])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    loc = f"{path}:{line}:" + (f"{column}:" if column is not None else "")
    message = result.stderr.strip()
    assert message.startswith(f"error: {loc} "), message
    assert phrase in message
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert _counts(seeded_db) == before


@pytest.mark.parametrize("name", ["json_duplicate_id.json", "csv_unclosed_quote.csv", "jsonl_bad_utf8.jsonl",
                                  "csv_nul_byte.csv"])
def test_bad_file_exit_code_in_a_real_process(seeded_db: Path, name: str) -> None:
    before = _counts(seeded_db)
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "--db", str(seeded_db), "import", str(BAD / name), "--name", "bad"],
        capture_output=True, text=True, timeout=60,
    )
    expected = next(row for row in CORPUS if row[0] == name)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert f"{BAD / name}:{expected[1]}:" in proc.stderr and expected[3] in proc.stderr
    assert _counts(seeded_db) == before
