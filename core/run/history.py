"""Run history: the listing of past runs, a finished run's error samples, the one command that
resumes a run, and the figures earlier runs measured for a model (what the estimate and
`workers = "auto"` go by). Both front ends read these typed results (the CLI's `assay runs`, the
Run and Trends screens); the SQL behind them is in `store.runs`.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from core.common.stats import percentile
from core.run.events import ModelSoFar
from core.run.liveness import shown_status
from store import runs as store_runs

# How long a process that is quitting at once waits for the write lock to mark its run interrupted.
QUICK_MARK_TIMEOUT_S = 0.5


@dataclass(frozen=True, slots=True)
class ModelOutcome:
    """One model's results in one run. Verdicts are the report's (latest score round per result)."""

    model: str
    n: int  # terminal rows: ok + errors + skipped
    ok: int
    errors: int
    skipped: int
    scored: int  # ok results whose verdict is pass or fail (not a scorer error, not unscored)
    passed: int
    cost_usd: float | None  # priced ok results; None when there are ok results and none is priced
    cost_unknown: int  # ok results without a price (cost_usd is then a lower bound)

    @property
    def pass_rate(self) -> float | None:
        """passed / scored, the report's `pass_rate`; None when nothing was scored."""
        return self.passed / self.scored if self.scored else None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One row of the run history. Field order is the `assay runs --json` key order."""

    id: str
    dataset: str
    dataset_version: int
    prompt_name: str
    repeats: int
    status: str  # running | finished | interrupted | failed | stale (running, its process gone)
    created_at: str  # started, ISO 8601 UTC
    finished_at: str | None
    n_results: int
    models: tuple[str, ...]
    outcomes: tuple[ModelOutcome, ...] = ()  # per model, run order; filled when list_runs asks for them

    @property
    def failed(self) -> int:
        """Calls that ended in an error or that a breaker skipped (what `--retry-errors` sends
        again); counted from `outcomes`."""
        return sum(o.errors + o.skipped for o in self.outcomes)


@dataclass(frozen=True, slots=True)
class ErrorSample:
    error_class: str
    message: str  # redacted, untrusted


def list_runs(db: sqlite_utils.Database, limit: int | None = None, *,
              outcomes: bool = False) -> list[RunSummary]:
    """Runs, newest first (only the newest `limit`). With `outcomes`, each run's per-model counts,
    pass rate and cost too (one more query for all listed runs)."""
    rows = store_runs.list_runs(db, limit)
    per_run = store_runs.model_outcomes(db, [r["id"] for r in rows]) if outcomes else {}
    return [
        RunSummary(
            id=r["id"], dataset=r["dataset"], dataset_version=r["dataset_version"], prompt_name=r["prompt_name"],
            repeats=r["repeats"], status=shown_status(r["status"], r["owner"]), created_at=r["created_at"],
            finished_at=r["finished_at"], n_results=r["n_results"], models=tuple(r["models"]),
            outcomes=_outcomes(r["models"], per_run[r["id"]]) if outcomes else (),
        )
        for r in rows
    ]


def _outcomes(models: list[str], rows: list[dict[str, Any]]) -> tuple[ModelOutcome, ...]:
    """One per model of the run, in the run's order (a model with no result yet has zeros)."""
    by_model = {row["model"]: row for row in rows}
    out = []
    for model in models:
        row = by_model.get(model)
        if row is None:
            out.append(ModelOutcome(model, n=0, ok=0, errors=0, skipped=0, scored=0, passed=0, cost_usd=0.0,
                                    cost_unknown=0))
            continue
        unpriced = row["ok"] > 0 and row["cost_unknown"] == row["ok"]
        out.append(ModelOutcome(
            model=model, n=row["n"], ok=row["ok"], errors=row["errors"], skipped=row["skipped"],
            scored=row["scored"], passed=row["passed"],
            cost_usd=None if unpriced else (row["cost_usd"] or 0.0), cost_unknown=row["cost_unknown"],
        ))
    return tuple(out)


def error_samples(db: sqlite_utils.Database, run_id: str, per_model: int = 1) -> dict[str, list[ErrorSample]]:
    """A few examples of each model's errors and skips (most frequent class first), for the
    end-of-run summary."""
    return {model: [ErrorSample(cls, message) for cls, message in samples]
            for model, samples in store_runs.error_samples(db, run_id, per_model).items()}


def mark_interrupted_quickly(db_path: str | os.PathLike[str], run_id: str) -> bool:
    """Best effort within QUICK_MARK_TIMEOUT_S, for a process that is quitting now: the engine's
    own connection may be mid-transaction, and the process will not wait for it."""
    return store_runs.mark_interrupted_now(db_path, run_id, QUICK_MARK_TIMEOUT_S)


def resume_command(run_id: str, *, root: Path | None = None, db_path: Path | None = None,
                   stream: bool | None = None) -> str:
    """The command that resumes a run. Given the workspace (`root`, `db_path`), it works from the
    user's current folder: `-w` when the root is elsewhere, `--db` when the database is not the
    workspace's default one (unless ASSAY_DB, which named it, still does). `stream` repeats the
    --stream/--no-stream flag the run was started with: streaming is a run condition."""
    parts = ["assay"]
    if root is not None and root != Path.cwd().resolve():
        parts += ["-w", str(root)]
    if root is not None and db_path is not None and db_path != root / "assay.db" and not os.environ.get("ASSAY_DB"):
        parts += ["--db", str(db_path)]
    parts += ["run", "--resume", run_id]
    if stream is not None:
        parts.append("--stream" if stream else "--no-stream")
    return " ".join(shlex.quote(p) for p in parts)


# How many of the dataset's newest runs are searched for a model's measured figures.
MEASURED_RUNS_SEARCHED = 50


@dataclass(frozen=True, slots=True)
class Measured:
    """A model's figures from an earlier run of the dataset."""

    run_id: str
    mean_output_tokens: float | None  # per ok call
    latency_p50_ms: float | None  # ok, non-cached calls


def measured_figures(db: sqlite_utils.Database, dataset: str, models: Sequence[str]) -> dict[str, Measured]:
    """Per model, the figures of the newest run of `dataset` (any version) where it answered."""
    wanted = set(models)
    found: dict[str, Measured] = {}
    runs = [r for r in list_runs(db) if r.dataset == dataset and wanted & set(r.models)]
    for summary in runs[:MEASURED_RUNS_SEARCHED]:
        todo = [m for m in summary.models if m in wanted and m not in found]
        if not todo:
            continue
        figures = store_runs.result_figures(db, summary.id)
        for model in todo:
            row = figures.get(model)
            if not row or not row["ok"]:
                continue
            found[model] = Measured(
                run_id=summary.id, mean_output_tokens=row["output_tokens"] / row["ok"] if row["output_tokens"] else None,
                latency_p50_ms=percentile(row["latencies"], 50),
            )
        if len(found) == len(wanted):
            break
    return found


def rows_so_far(db: sqlite_utils.Database, run_id: str) -> tuple[ModelSoFar, ...]:
    """Per model with rows, what a resumed run finds in place (verdicts as `ModelOutcome`'s)."""
    paid = store_runs.paid_figures(db, run_id)
    return tuple(
        ModelSoFar(model=o["model"], done=o["n"], ok=o["ok"], errors=o["errors"], skipped=o["skipped"],
                   cached=paid[o["model"]]["cached"], graded=o["scored"], passed=o["passed"],
                   spend_usd=paid[o["model"]]["spend_usd"], spend_unknown=paid[o["model"]]["spend_unknown"],
                   latencies=tuple(paid[o["model"]]["latencies"]), retries=paid[o["model"]]["retries"])
        for o in store_runs.model_outcomes(db, [run_id])[run_id]
    )
