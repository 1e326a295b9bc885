"""Histories with exact verdict patterns for the baseline / compare / alert tests: a dataset of n
cases (task types cycled), and runs whose verdicts are given per model as a list of pass (True),
fail (False) or None (no row: the case is missing from the run), one score row per result."""

from __future__ import annotations

import random
from collections.abc import Sequence

import sqlite_utils
from scoring_fixtures import add_dataset, add_run

from store.db import write
from store.scores import insert_scores
from store.timeutil import now_iso

Pattern = Sequence[bool | None]


def dataset(db: sqlite_utils.Database, n: int, *, name: str = "ds", task_types: Sequence[str] = ("qa",)) -> int:
    """n cases c0000.. with expected answers; returns the version id."""
    return add_dataset(db, [{"id": f"c{i:04d}", "input_text": f"q{i}", "expected_output": f"a{i}",
                             "task_type": task_types[i % len(task_types)]} for i in range(n)], name=name)


def run(db: sqlite_utils.Database, version_id: int, run_id: str, verdicts: dict[str, Pattern], *,
        created_at: str | None = None) -> str:
    """A finished run of the models in `verdicts`, case i of each model passing when verdicts[m][i]."""
    add_run(db, version_id, list(verdicts), run_id=run_id, created_at=created_at)
    ts = now_iso()
    with write(db):
        for model, pattern in verdicts.items():
            for i, passed in enumerate(pattern):
                if passed is None:
                    continue
                rid = db.execute(
                    "INSERT INTO results (run_id, case_id, model, repeat, status, output, cost_status, created_at) "
                    "VALUES (?, ?, ?, 0, 'ok', 'x', 'unknown', ?)", [run_id, f"c{i:04d}", model, ts]).lastrowid
                insert_scores(db, [{"result_id": rid, "run_id": run_id, "round": 1, "scorer": "exact",
                                    "status": "ok", "score": 1.0 if passed else 0.0, "passed": passed}])
    return run_id


def base_pattern(n: int, rate: float, seed: int) -> list[bool]:
    rng = random.Random(seed)
    return [rng.random() < rate for _ in range(n)]


def flipped(pattern: Sequence[bool], down: int, up: int, seed: int) -> list[bool]:
    """`down` passing cases made failing and `up` failing cases made passing, chosen at random."""
    rng = random.Random(seed)
    out = list(pattern)
    passing = [i for i, p in enumerate(out) if p]
    failing = [i for i, p in enumerate(out) if not p]
    for i in rng.sample(passing, down):
        out[i] = False
    for i in rng.sample(failing, up):
        out[i] = True
    return out
