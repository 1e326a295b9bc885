"""A big JSONL file read and validated in a forked process (`core.datasets.read_ahead`): the same
rows, version and errors as the one-process import, and no child left behind."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest
from test_import_version import GOOD, TABLES, counts, varied

from core.datasets import read_ahead
from core.datasets.importing import import_file
from core.errors import InputError
from store import connect
from store import datasets as store_ds


@pytest.fixture(autouse=True)
def every_file_is_big(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every JSONL file takes the read-ahead path when allowed; returns each read-ahead's reader pids."""
    monkeypatch.setattr(read_ahead, "MIN_BYTES", 0)
    monkeypatch.setattr(read_ahead, "_BATCH", 4)  # several messages from each reader for a handful of cases
    pids: list[list[int]] = []
    start = read_ahead.ReadAhead.__init__

    def counted(self, *args, **kwargs):
        start(self, *args, **kwargs)
        pids.append([proc.pid for proc in self._procs])

    monkeypatch.setattr(read_ahead.ReadAhead, "__init__", counted)
    return pids


def stored(path: Path) -> tuple[list[tuple], list[tuple]]:
    db = connect(path)
    try:
        cases = db.execute("SELECT case_id, input_text, expected_json, task_type, difficulty, metadata_json, "
                           "tags_json, excluded, ord FROM cases ORDER BY ord").fetchall()
        versions = db.execute("SELECT version, content_hash, n_cases, n_labeled FROM dataset_versions").fetchall()
    finally:
        db.close()
    return cases, versions


def imported(tmp_path: Path, name: str, src: Path, fork_ok: bool, **kwargs) -> tuple[list[tuple], list[tuple]]:
    db = connect(tmp_path / f"{name}.db")
    try:
        import_file(db, src, "d", fork_ok=fork_ok, **kwargs)
    finally:
        db.close()
    return stored(tmp_path / f"{name}.db")


@pytest.mark.parametrize("source", ["varied", "inspect.jsonl", "openai_evals.jsonl"])
def test_the_same_rows_and_version_as_one_process(tmp_path: Path, source: str, every_file_is_big) -> None:
    src = varied(tmp_path / "varied.jsonl", 23) if source == "varied" else GOOD / source
    one = imported(tmp_path, "one", src, fork_ok=False)
    assert every_file_is_big == []
    two = imported(tmp_path, "two", src, fork_ok=True)
    assert len(every_file_is_big) == 1 and len(every_file_is_big[0]) == read_ahead.READERS == 2
    assert one == two and len(two[0]) >= 2 and len(two[1]) == 1
    assert multiprocessing.active_children() == []


def test_a_mapping_and_a_task_type_reach_the_reader(tmp_path: Path) -> None:
    src = tmp_path / "mapped.jsonl"
    src.write_text("".join(json.dumps({"q": f"question {i}", "a": f"answer {i}"}) + "\n" for i in range(9)))
    kwargs = {"mapping": {"input_text": "q", "expected_output": "a"}, "task_type": "qa"}
    one = imported(tmp_path, "one", src, fork_ok=False, **kwargs)
    assert one == imported(tmp_path, "two", src, fork_ok=True, **kwargs)
    assert {row[3] for row in one[0]} == {"qa"} and one[0][0][2] == '"answer 0"'


def errors_both_ways(tmp_path: Path, src: Path) -> list[tuple]:
    """The import's error, in one process then read ahead; each time nothing is left behind."""
    errors = []
    for fork_ok in (False, True):
        db = connect(tmp_path / f"{fork_ok}.db")
        with pytest.raises(InputError) as exc:
            import_file(db, src, "d", fork_ok=fork_ok)
        errors.append((exc.value.file, exc.value.line, exc.value.column, exc.value.problem))
        assert counts(db) == dict.fromkeys(TABLES, 0)
        db.close()
    assert multiprocessing.active_children() == []
    return errors


@pytest.mark.parametrize("bad, where", [
    ('{"id": "late", "input_text": "   "}', "blank input on the last line"),
    ('{"id": "c2", "input_text": "twin"}', "a duplicate id several batches later"),
    ("{not json", "a line that is not JSON"),
])
def test_a_bad_record_gives_the_same_error_and_leaves_nothing(tmp_path: Path, bad: str, where: str) -> None:
    src = varied(tmp_path / "bad.jsonl", 23)
    with src.open("a") as f:
        f.write(bad + "\n")
    one, ahead = errors_both_ways(tmp_path, src)
    assert one == ahead and one[1] == 24, where


@pytest.mark.parametrize("at", [0, 1, 3, 4, 5, 8, 13, 19, 22])  # batches of 4: readers 0, 1, 0, 1, ...
@pytest.mark.parametrize("bad", [b"{not json", b'{"input_text": "bad byte \xff here"}', b'{"input_text": ""}'])
def test_an_error_in_any_readers_batch_is_the_one_process_error(tmp_path: Path, at: int, bad: bytes) -> None:
    lines = varied(tmp_path / "v.jsonl", 23).read_bytes().splitlines(keepends=True)
    src = tmp_path / "bad.jsonl"
    src.write_bytes(b"".join(lines[:at]) + bad + b"\n" + b"".join(lines[at:]))
    one, ahead = errors_both_ways(tmp_path, src)
    assert one == ahead and one[1] == at + 1


def test_a_second_error_later_in_the_other_readers_share_is_not_the_one_reported(tmp_path: Path) -> None:
    lines = varied(tmp_path / "v.jsonl", 23).read_bytes().splitlines(keepends=True)
    src = tmp_path / "bad.jsonl"
    lines[9], lines[5] = b"{not json\n", b"\xff\n"  # record 9: reader 0's batch 2; the byte: reader 1's batch 1
    src.write_bytes(b"".join(lines))
    one, ahead = errors_both_ways(tmp_path, src)
    assert one == ahead and one[1] == 6


@pytest.mark.parametrize("n", [4, 8, 12, 13])  # ends on a batch boundary of either reader, or inside one
def test_the_file_ending_anywhere_gives_every_case(tmp_path: Path, n: int) -> None:
    src = varied(tmp_path / "v.jsonl", n)
    one = imported(tmp_path, "one", src, fork_ok=False)
    assert one == imported(tmp_path, "two", src, fork_ok=True) and len(one[0]) == n


def test_an_error_on_the_first_line_is_raised_before_anything_is_written(tmp_path: Path) -> None:
    src = tmp_path / "first.jsonl"
    src.write_text('["a list, not a case"]\n{"input_text": "fine"}\n')
    db = connect(tmp_path / "a.db")
    with pytest.raises(InputError) as exc:
        import_file(db, src, "d", fork_ok=True)
    assert exc.value.line == 1 and "expected a JSON object" in exc.value.problem
    assert counts(db) == dict.fromkeys(TABLES, 0)
    assert multiprocessing.active_children() == []


def test_an_existing_name_stops_the_reader_too(tmp_path: Path) -> None:
    db = connect(tmp_path / "a.db")
    src = varied(tmp_path / "v.jsonl", 23)
    import_file(db, src, "d", fork_ok=True)
    with pytest.raises(Exception, match="already exists"):
        import_file(db, src, "d", fork_ok=True)
    assert multiprocessing.active_children() == []
    assert store_ds.list_versions(db, store_ds.dataset_id(db, "d"))[0]["n_cases"] == 23


def test_only_big_jsonl_files_and_only_when_the_caller_allows_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(read_ahead, "MIN_BYTES", 100)
    big, small = tmp_path / "big.jsonl", tmp_path / "small.jsonl"
    big.write_bytes(b"x" * 100)
    small.write_bytes(b"x" * 99)
    assert read_ahead.usable(big, "jsonl", True)
    assert not read_ahead.usable(big, "jsonl", False)  # the app: threads, no fork
    assert not read_ahead.usable(small, "jsonl", True)
    assert not read_ahead.usable(big, "csv", True)
    assert not read_ahead.usable(tmp_path / "missing.jsonl", "jsonl", True)


def test_a_reader_that_dies_is_not_reported_as_bad_input(tmp_path: Path, monkeypatch) -> None:
    import os
    import signal

    from core.errors import InfrastructureError

    child = read_ahead._child

    def dies_after_its_flavour(conn, index, *args):
        if index == 1:
            conn.send(("flavour", None))
            os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's out-of-memory killer would
        child(conn, index, *args)

    monkeypatch.setattr(read_ahead, "_child", dies_after_its_flavour)
    db = connect(tmp_path / "a.db")
    with pytest.raises(InfrastructureError, match="stopped unexpectedly [(]killed by signal 9[)]") as exc:
        import_file(db, varied(tmp_path / "v.jsonl", 23), "d", fork_ok=True)
    assert exc.value.exit_code == 3 and "v.jsonl" in str(exc.value)
    assert counts(db) == dict.fromkeys(TABLES, 0)
    assert multiprocessing.active_children() == []
