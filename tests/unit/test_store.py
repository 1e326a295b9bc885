"""Connection rules: pragmas, private file, BEGIN IMMEDIATE under concurrent writers, migrations racing."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from store import connect, write
from store import datasets as store_ds

REPO = Path(__file__).resolve().parents[2]


def test_pragmas_and_private_file(tmp_path):
    path = tmp_path / "sub" / "assay.db"
    db = connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with write(db):
        store_ds.create_dataset(db, "x")
    for sidecar in (path.with_name("assay.db-wal"), path.with_name("assay.db-shm")):
        if sidecar.exists():
            assert stat.S_IMODE(os.stat(sidecar).st_mode) & 0o077 == 0


def test_write_rolls_back_on_error(tmp_path):
    db = connect(tmp_path / "a.db")
    with pytest.raises(RuntimeError):
        with write(db):
            store_ds.create_dataset(db, "gone")
            raise RuntimeError("boom")
    assert db.execute("SELECT COUNT(*) FROM datasets").fetchone()[0] == 0


def test_foreign_keys_enforced(tmp_path):
    db = connect(tmp_path / "a.db")
    with pytest.raises(sqlite3.IntegrityError):
        with write(db):
            store_ds.insert_cases(db, 999, [{"id": "a", "input_text": "x"}])


def test_connection_is_per_thread(tmp_path):
    db = connect(tmp_path / "a.db")
    errors: list[Exception] = []

    def use():
        try:
            db.execute("SELECT 1")
        except Exception as exc:  # sqlite3.ProgrammingError: created in another thread
            errors.append(exc)

    t = threading.Thread(target=use)
    t.start()
    t.join()
    assert errors and isinstance(errors[0], sqlite3.ProgrammingError)


_WRITER = """
import sys
from store import connect, write
db = connect(sys.argv[1])
for i in range(int(sys.argv[2])):
    with write(db):
        # read-then-write: the pattern that loses transactions under a deferred BEGIN
        n = db.execute("SELECT COUNT(*) FROM datasets").fetchone()[0]
        db.execute("INSERT INTO datasets (name, created_at) VALUES (?, 'now')", [f"{sys.argv[3]}-{i}-{n}"])
"""


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "a.db"
    connect(path).close()
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), "150", f"w{k}"], cwd=REPO,
                         stderr=subprocess.PIPE, text=True)
        for k in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    db = connect(path)
    assert db.execute("SELECT COUNT(*) FROM datasets").fetchone()[0] == 450


_MIGRATOR = """
import sys, time
t = float(sys.argv[2])
while time.time() < t:
    pass
from store import connect
connect(sys.argv[1]).close()
"""


def test_processes_migrating_at_once(tmp_path):
    import time

    path = tmp_path / "race.db"
    start = time.time() + 1.0
    procs = [
        subprocess.Popen([sys.executable, "-c", _MIGRATOR, str(path), str(start)], cwd=REPO,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT name, COUNT(*) FROM _sqlite_migrations GROUP BY name").fetchall()
    assert rows and all(n == 1 for _, n in rows)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
