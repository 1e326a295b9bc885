"""The dataset commands end to end: import, export, sample, datasets, versions, snapshot, cases."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli

DATA = Path(__file__).resolve().parent.parent / "data"
GOOD = DATA / "good"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "assay.db"


def run(db: Path, *args: str):
    return CliRunner().invoke(cli, ["--db", str(db), *args])


def ok(db: Path, *args: str):
    result = run(db, *args)
    assert result.exit_code == 0, result.output
    return result


def test_import_then_list(db: Path) -> None:
    result = ok(db, "import", str(GOOD / "cases.jsonl"), "--name", "seed", "--json")
    assert json.loads(result.stdout) == {"dataset": "seed", "format": "jsonl", "imported": 4, "labeled": 3,
                                         "unlabeled": 1, "version": 1, "appended": False}
    assert "imported 4 cases into 'seed' (3 labeled, 1 unlabeled)" in result.stderr
    listing = ok(db, "datasets").stdout
    assert listing.splitlines()[0].split() == ["name", "cases", "labeled", "unlabeled", "versions", "task", "types"]
    assert "seed" in listing and "math 1 (1 labeled)" in listing
    (summary,) = json.loads(ok(db, "datasets", "--json").stdout)
    assert (summary["name"], summary["cases"], summary["labeled"], summary["versions"]) == ("seed", 4, 3, 1)
    assert summary["task_types"]["summarization"] == {"cases": 1, "labeled": 0, "unlabeled": 1}


def test_empty_workspace_listing(db: Path) -> None:
    result = ok(db, "datasets")
    assert result.stdout == "" and "no datasets yet" in result.stderr


def test_import_options(db: Path) -> None:
    ok(db, "import", str(GOOD / "mapped.csv"), "--name", "m", "--map", "input_text=question,expected_output=answer",
       "--task-type", "qa")
    cases = json.loads(ok(db, "cases", "m", "--json").stdout)["cases"]
    assert [c["task_type"] for c in cases] == ["qa", "qa", "qa"]
    assert cases[1]["expected_output"] == {"label": "positive"}
    # --map given once per field reads the same as one comma-separated list (before, the last won).
    ok(db, "import", str(GOOD / "mapped.csv"), "--name", "m2", "--map", "input_text=question", "--map",
       "expected_output=answer")
    again = json.loads(ok(db, "cases", "m2", "--json").stdout)["cases"]
    assert [(c["input_text"], c["expected_output"]) for c in again] == [
        (c["input_text"], c["expected_output"]) for c in cases]


@pytest.mark.parametrize(("args", "message"), [
    (["import", "x.jsonl"], "--name is required"),
    (["import", "a.jsonl", "b.jsonl", "--name", "n"], "expected one FILE"),
    (["import", "x.jsonl", "--name", "n", "--skip-unsupported"], "only applies to `assay import promptfoo`"),
    (["import", "x.jsonl", "--name", "n", "--map", "bogus=x"], "unknown field 'bogus'"),
    (["export", "nope"], "no dataset named 'nope'"),
    (["cases", "nope"], "no dataset named 'nope'"),
    (["datasets", "versions", "nope"], "no dataset named 'nope'"),
    (["datasets", "snapshot", "nope"], "no dataset named 'nope'"),
    (["sample", "logs.jsonl", "--size", "5"], "--name is required"),
])
def test_usage_errors_exit_2(db: Path, args: list[str], message: str) -> None:
    result = run(db, *args)
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert "Traceback" not in result.output


def test_existing_name_and_append(db: Path, tmp_path: Path) -> None:
    ok(db, "import", str(GOOD / "cases.jsonl"), "--name", "seed")
    again = run(db, "import", str(GOOD / "cases.jsonl"), "--name", "seed")
    assert again.exit_code == 2 and "dataset 'seed' already exists (use --append" in again.stderr
    more = tmp_path / "more.jsonl"
    more.write_text('{"id": "n1", "input_text": "new"}\n')
    result = ok(db, "import", str(more), "--name", "seed", "--append")
    assert "appended 1 cases into 'seed'" in result.stderr and "version 2" in result.stderr


def test_export_stdout_file_and_version(db: Path, tmp_path: Path) -> None:
    ok(db, "import", str(GOOD / "cases.jsonl"), "--name", "seed")
    jsonl = ok(db, "export", "seed", "--format", "jsonl").stdout
    assert len(jsonl.splitlines()) == 4 and json.loads(jsonl.splitlines()[0])["id"] == "7"
    out = tmp_path / "seed.csv"
    result = ok(db, "export", "seed", "-o", str(out))  # format from the extension
    assert out.read_text().startswith("id,input_text,expected_output,") and "to " in result.stderr
    assert list(tmp_path.glob(".seed.csv*")) == []  # no temporary file left
    missing = run(db, "export", "seed", "--version", "3", "-o", str(tmp_path / "v3.json"))
    assert missing.exit_code == 2 and "has no version 3" in missing.stderr
    assert not (tmp_path / "v3.json").exists()
    assert json.loads(ok(db, "export", "seed", "--format", "json", "--version", "1").stdout)[0]["id"] == "7"


def test_export_replaces_a_file_only_with_overwrite(db: Path, tmp_path: Path) -> None:
    ok(db, "import", str(GOOD / "cases.jsonl"), "--name", "seed")
    out = tmp_path / "seed.jsonl"
    out.write_text("keep me")
    refused = run(db, "export", "seed", "-o", str(out))
    assert refused.exit_code == 2 and "already exists" in refused.stderr and out.read_text() == "keep me"
    ok(db, "export", "seed", "-o", str(out), "--overwrite")
    assert len(out.read_text().splitlines()) == 4


def test_a_file_with_a_nul_byte_is_refused_and_nothing_is_written(db: Path, tmp_path: Path) -> None:
    path = tmp_path / "corrupt.csv"
    path.write_bytes(b"id,input_text\na,fine\nb,bro\x00ken\n")
    result = run(db, "import", str(path), "--name", "corrupt")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip() == (f"error: {path}:3:6: contains a NUL byte (0x00): "
                                      "this is a binary or corrupted file, not text")
    assert "no datasets yet" in ok(db, "datasets").stderr
    assert run(db, "cases", "corrupt").exit_code == 2  # no dataset named 'corrupt'


def test_versions_and_snapshot(db: Path) -> None:
    ok(db, "import", str(GOOD / "cases.jsonl"), "--name", "seed")
    assert "unchanged, same as version 1 (4 cases, 3 labeled)" in ok(db, "datasets", "snapshot", "seed").stderr
    (v,) = json.loads(ok(db, "datasets", "versions", "seed", "--json").stdout)
    assert (v["version"], v["n_cases"], v["reason"]) == (1, 4, "import")
    table = ok(db, "datasets", "versions", "seed").stdout.splitlines()
    assert table[0].split() == ["version", "created", "cases", "labeled", "reason", "hash"]
    assert table[1].split()[0] == "1" and "import" in table[1]


def test_cases_paging_and_filters(db: Path) -> None:
    ok(db, "import", str(GOOD / "cases.jsonl"), "--name", "seed")
    first = ok(db, "cases", "seed", "--limit", "2")
    assert [line.split()[0] for line in first.stdout.splitlines()[1:]] == ["0", "1"]
    assert "next page: assay cases seed --limit 2 --after 1" in first.stderr
    second = ok(db, "cases", "seed", "--limit", "2", "--after", "1", "--json")
    page = json.loads(second.stdout)
    assert [c["ord"] for c in page["cases"]] == [2, 3] and page["next_after"] is None
    assert "next page" not in second.stderr
    unlabeled = json.loads(ok(db, "cases", "seed", "--unlabeled", "--json").stdout)["cases"]
    assert [c["task_type"] for c in unlabeled] == ["summarization"]
    assert [c["id"] for c in json.loads(ok(db, "cases", "seed", "--labeled", "--task-type", "math", "--json").stdout)["cases"]] == ["7"]
    assert [c["id"] for c in json.loads(ok(db, "cases", "seed", "--search", "ACME", "--json").stdout)["cases"]] == ["extract-1"]
    assert [c["id"] for c in json.loads(ok(db, "cases", "seed", "--difficulty", "medium", "--json").stdout)["cases"]] == ["cls-1"]
    none = ok(db, "cases", "seed", "--search", "zzz")
    assert none.stdout == "" and "no cases match" in none.stderr


def test_untrusted_text_is_made_safe(db: Path, tmp_path: Path) -> None:
    evil = tmp_path / "evil.jsonl"
    evil.write_text(json.dumps({"id": "x\x1b]52;c;AAAA\x07", "input_text": "hi \x1b[31mred\u202e [/] [@click=app.quit]",
                                "task_type": "t\x9b"}) + "\n")
    ok(db, "import", str(evil), "--name", "evil\u202eset")
    for args in (["cases", "evil\u202eset"], ["datasets"], ["datasets", "versions", "evil\u202eset"]):
        result = ok(db, *args)
        for ch in ("\x1b", "\x07", "\x9b", "\u202e"):
            assert ch not in result.output, (args, result.output)
    assert "\\x1b[31mred" in ok(db, "cases", "evil\u202eset").stdout


def test_terminal_export_is_made_safe() -> None:
    import io

    from cli.dataset_cmds import _TerminalSafe

    buf = io.StringIO()
    _TerminalSafe(buf).write('"a\x1b[2J\u202eb"\n')
    assert buf.getvalue() == '"a\\x1b[2J\\u202eb"\n'


def test_sample_dry_run_writes_nothing(db: Path, tmp_path: Path) -> None:
    log = tmp_path / "logs.jsonl"
    log.write_text("".join(json.dumps({"request_id": f"r{i}", "prompt": f"p{i}", "task_type": "ab"[i % 2],
                                       **({"verified_output": "v"} if i % 3 else {})}) + "\n" for i in range(30)))
    dry = ok(db, "sample", str(log), "--size", "10", "--seed", "7", "--dry-run", "--json")
    report = json.loads(dry.stdout)
    assert [(s["stratum"], s["available"], s["quota"], s["sampled"]) for s in report["strata"]] == [("a", 15, 5, 5), ("b", 15, 5, 5)]
    assert report["dataset"] is None and "dry run: would sample 10 cases" in dry.stderr
    table = dry.stderr.splitlines()
    assert table[0].split() == ["task_type", "seen", "duplicates", "available", "quota", "sampled", "labeled"]
    assert table[3].split()[:6] == ["total", "30", "0", "30", "10", "10"]
    assert "no datasets yet" in ok(db, "datasets").stderr
    real = ok(db, "sample", str(log), "--size", "10", "--seed", "7", "--name", "prod")
    assert "sampled 10 cases into 'prod'" in real.stderr and "version 1" in real.stderr
    assert real.stdout == ""
    again = run(db, "sample", str(log), "--size", "10", "--name", "prod")
    assert again.exit_code == 2 and "already exists" in again.stderr


def test_sample_reads_log_keys_given_by_repeated_field_options(db: Path, tmp_path: Path) -> None:
    log = tmp_path / "logs.jsonl"
    log.write_text("".join(json.dumps({"rid": f"r{i}", "question": f"q{i}", "kind": "ab"[i % 2]}) + "\n"
                           for i in range(12)))
    ok(db, "sample", str(log), "--size", "4", "--name", "s", "--field", "request_id=rid", "--field",
       "prompt=question", "--field", "task_type=kind")
    cases = json.loads(ok(db, "cases", "s", "--json").stdout)["cases"]
    assert len(cases) == 4 and all(c["input_text"].startswith("q") for c in cases)
    assert sorted(c["task_type"] for c in cases) == ["a", "a", "b", "b"]


def test_sample_bad_log_line(db: Path, tmp_path: Path) -> None:
    log = tmp_path / "logs.jsonl"
    log.write_text('{"prompt": "a"}\n{"prompt": "b", "task_type": 3}\n')
    result = run(db, "sample", str(log), "--size", "1", "--name", "prod")
    assert result.exit_code == 2
    assert f"{log}:2: field 'task_type': input should be a valid string (got 3)" in result.stderr


def test_promptfoo_dispatch(db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def run_import(ws, config_path: Path, name: str | None, skip_unsupported: bool) -> list[str]:
        calls.append((config_path, name, skip_unsupported))
        return ["imported 3 tests from \x1b[1mconfig"]

    monkeypatch.setitem(sys.modules, "core.datasets.promptfoo.importer", types.SimpleNamespace(run_import=run_import))
    result = ok(db, "import", "promptfoo", str(tmp_path / "promptfooconfig.yaml"), "--name", "pf", "--skip-unsupported")
    assert calls == [(tmp_path / "promptfooconfig.yaml", "pf", True)]
    assert "imported 3 tests from \\x1b[1mconfig" in result.stderr
    refused = run(db, "import", "promptfoo", "c.yaml", "--map", "input_text=x")
    assert refused.exit_code == 2 and "do not apply to a promptfoo import" in refused.stderr


def test_promptfoo_not_available(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "core.datasets.promptfoo.importer", None)  # as if the module did not exist
    result = run(db, "import", "promptfoo", "c.yaml")
    assert result.exit_code == 2 and "error: promptfoo import is not available" in result.stderr


def test_real_process_exit_codes(db: Path) -> None:
    def assay(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli.main", "--db", str(db), *args],
                              capture_output=True, text=True, timeout=60)

    good = assay("import", str(GOOD / "cases.jsonl"), "--name", "seed")
    assert good.returncode == 0 and good.stdout == ""
    dup = assay("import", str(GOOD / "cases.jsonl"), "--name", "seed")
    assert dup.returncode == 2 and dup.stderr == "error: dataset 'seed' already exists (use --append to add cases to it)\n"
    missing = assay("import", str(GOOD / "nope.jsonl"), "--name", "x")
    assert missing.returncode == 2 and "nope.jsonl: no such file" in missing.stderr and "Traceback" not in missing.stderr


def test_dataset_commands_stay_light(db: Path) -> None:
    """`assay datasets` (and --help) import neither litellm nor textual."""
    code = (
        "import sys\n"
        "from cli.main import cli\n"
        "for args in (['--help'], ['--db', sys.argv[1], 'datasets'], ['--db', sys.argv[1], 'import', '--help']):\n"
        "    try:\n"
        "        cli(args, prog_name='assay')\n"
        "    except SystemExit as e:\n"
        "        assert not e.code, e.code\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'litellm', 'textual'}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
