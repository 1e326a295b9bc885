"""`assay demo --headless`: the bundled demo end to end through the real litellm HTTP path."""

from __future__ import annotations

import sqlite3
import os
import subprocess
import sys
from pathlib import Path

from demo import DATASETS, load_cases

ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def test_headless_demo_runs_every_dataset(tmp_path: Path):
    root = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "demo", "--headless", "--dir", str(root), "--port", "0",
         "--latency-scale", "0"],
        cwd=tmp_path, capture_output=True, text=True, timeout=240, env=ENV,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("Pairwise comparison") == len(DATASETS)
    assert "cost/correct" in proc.stdout
    conn = sqlite3.connect(root / "assay.db")
    runs = conn.execute("SELECT status FROM runs").fetchall()
    assert runs == [("finished",)] * len(DATASETS)
    expected = sum(len(load_cases(name)) for name in DATASETS) * 3
    assert conn.execute("SELECT COUNT(*) FROM results WHERE status = 'ok'").fetchone()[0] == expected
    assert "Traceback" not in proc.stderr
    listed = subprocess.run([sys.executable, "-m", "cli.main", "-w", str(root), "runs"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, env=ENV)
    lines = listed.stdout.splitlines()
    assert listed.returncode == 0 and lines[0].split()[:3] == ["run", "dataset", "version"]
    assert sorted(line.split()[1] for line in lines[1:]) == sorted(DATASETS)
    assert all(" finished " in line for line in lines[1:])
