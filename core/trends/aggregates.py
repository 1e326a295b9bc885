"""Per-run aggregates: the report's figures per run x model x task type, stored for trend queries.

Every figure comes from `core.report.build.build_report` (never a second computation): n, scored,
passed, pass rate with its Wilson interval, pass rate incl. errors, mean score, per-field accuracy,
latency p50/p95, cost per case and per correct answer. Next to them, the keys that break a series
when they change between runs:

- scorer config: the hash of the run's recorded scoring config (the task's own table, the scorer
  tables and the judge; every task for the '(all)' group);
- prompt: the content hash of the run's prompt;
- params: the hash of the shared params and the model's own effective params and overrides;
- model id: the configured litellm id of the model name;
- provider model strings and system fingerprints the provider returned on the run's ok results.

Only finished runs get aggregates (an interrupted or failed run measured part of its cases and
would read as a drop). They are written when a run finishes (`assay run`), after a re-score
(`assay score`), by `assay trends rebuild`, and caught up by `refresh()` before trends are read:
`refresh` rebuilds exactly the runs whose status, finish time, latest score round or latest human
override changed since their aggregates were built, so the Trends screen and a run started from the
app get them too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from core.common.hashing import canonical_json, content_hash
from core.errors import NotFoundError
from core.report.build import build_report
from core.report.types import ALL, FieldAccuracy, GroupFigures
from store import runs as store_runs
from store import trends as store_trends
from store.trends import AggregateRow, BuildState


@dataclass(frozen=True, slots=True)
class Refreshed:
    """What `refresh` or `rebuild_all` did: runs rebuilt and aggregate rows written."""

    runs: int
    rows: int


def _field_json(fields: dict[str, FieldAccuracy]) -> str:
    return canonical_json({name: {"n": f.n, "accuracy": f.accuracy} for name, f in sorted(fields.items())})


def _keys(run: dict[str, Any], model: str, task_type: str, prompt_hash: str) -> dict[str, Any]:
    config = run.get("config") or {}
    scoring = config.get("scoring") or {}
    conditions = config.get("conditions") or {}
    if task_type == ALL:
        scorer = scoring
    else:
        scorer = {"task": (scoring.get("tasks") or {}).get(task_type), "scorers": scoring.get("scorers"),
                  "judge": scoring.get("judge")}
    model_cond = dict((conditions.get("models") or {}).get(model) or {})
    model_id = model_cond.pop("model", None)
    return {
        "model_id": model_id,
        "scorer_hash": content_hash(scorer),
        "prompt_hash": prompt_hash,
        "params_hash": content_hash({"shared": conditions.get("shared"), "model": model_cond}),
    }


def _row(run: dict[str, Any], model: str, task_type: str, g: GroupFigures, fields: dict[str, FieldAccuracy],
         keys: dict[str, Any], provider: tuple[list[str], list[str]]) -> AggregateRow:
    low, high = g.pass_rate_ci95 if g.pass_rate_ci95 else (None, None)
    return AggregateRow(
        run_id=run["id"], dataset_id=run["dataset_id"], model=model, task_type=task_type,
        run_created_at=run["created_at"], dataset_version=run["dataset_version"],
        n=g.n, scored=g.scored, passed=g.passed, errors=g.errors, pass_rate=g.pass_rate,
        pass_rate_low=low, pass_rate_high=high, pass_rate_incl_errors=g.pass_rate_incl_errors,
        mean_score=g.mean_score, field_accuracy_json=_field_json(fields),
        latency_p50_ms=g.latency_p50_ms, latency_p95_ms=g.latency_p95_ms,
        cost_per_case=g.cost_per_case, cost_per_correct=g.cost_per_correct, cost_status=g.cost_status,
        model_id=keys["model_id"], scorer_hash=keys["scorer_hash"], prompt_hash=keys["prompt_hash"],
        params_hash=keys["params_hash"], provider_models_json=canonical_json(provider[0]),
        fingerprints_json=canonical_json(provider[1]),
    )


def build_aggregates(db: sqlite_utils.Database, run_id: str) -> list[AggregateRow]:
    """A run's aggregate rows (not written): one per model x task type present, plus '(all)'."""
    run = store_runs.get_run(db, run_id)
    if run is None:
        raise NotFoundError(f"no run '{run_id}'")
    report = build_report(db, run_id, pairwise=False)
    prompt_hash = (store_trends.prompt_hash(db, run.get("prompt_id"))
                   or content_hash((run.get("config") or {}).get("conditions", {}).get("prompt")))
    provider = store_trends.provider_models(db, run_id)
    rows = []
    for model in report.models:
        fields_of = report.field_accuracy.get(model, {})
        for task_type, figures in report.summary.get(model, {}).items():
            if task_type == ALL:
                # The '(all)' group of a one-task run is that task's results: the same fields.
                fields = next(iter(fields_of.values())) if len(report.task_types) == 1 and fields_of else {}
            else:
                fields = fields_of.get(task_type, {})
            rows.append(_row(run, model, task_type, figures, fields, _keys(run, model, task_type, prompt_hash),
                             provider.get(model, ([], []))))
    return rows


def _record(db: sqlite_utils.Database, state: BuildState) -> int:
    rows = build_aggregates(db, state.run_id) if state.status == "finished" else []
    store_trends.replace_run_aggregates(db, state, rows)
    return len(rows)


def record_run(db: sqlite_utils.Database, run_id: str) -> int:
    """(Re)write one run's aggregates from its report now; returns the rows written (0 for a run
    that did not finish). Called when a run ends and after a re-score."""
    states = store_trends.current_states(db, [run_id])
    if not states:
        raise NotFoundError(f"no run '{run_id}'")
    return _record(db, states[0])


def refresh(db: sqlite_utils.Database) -> Refreshed:
    """Build the aggregates of every run that has none or whose results' verdicts changed since."""
    stale = store_trends.stale_runs(db)
    return Refreshed(runs=len(stale), rows=sum(_record(db, s) for s in stale))


def rebuild_all(db: sqlite_utils.Database) -> Refreshed:
    """Recompute every run's aggregates (`assay trends rebuild`)."""
    states = store_trends.current_states(db)
    return Refreshed(runs=len(states), rows=sum(_record(db, s) for s in states))


def field_accuracies(row: AggregateRow) -> dict[str, float]:
    """field -> accuracy of an aggregate row."""
    return {name: v["accuracy"] for name, v in json.loads(row.field_accuracy_json or "{}").items()}
