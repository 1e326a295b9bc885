"""Trend queries over a long history. A plain script: it prints what it measured.

    .venv/bin/python bench/trends_bench.py [--runs 200] [--results-per-run 5000] [--rounds 7]

Generates, in a temporary SQLite file and through the store functions (one transaction per run),
a history of RUNS finished runs of two models on one dataset (two task types, one with extraction
fields), RESULTS_PER_RUN results per run with a score row each (1,000,000 results by default), a
prompt change, a params change and a provider model update along the way. Then:

1. builds the per-run aggregates (`core.trends.aggregates.refresh`, once: what a first `assay
   trends` after an upgrade pays),
2. times `refresh` when nothing changed (what every later `assay trends` / Trends screen pays),
3. times the trend queries (median of `--rounds`): the series list (`list_series`), one series'
   points (`series_points`) for the pass rate and for a per-field accuracy.

`generate_history(path, runs, results_per_run)` is importable (the Trends screen's first-paint
bench and the tests build their histories with it).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DATASET = "history"
MODELS = ("gpt", "claude")
TASKS = ("qa", "invoice")
START = datetime(2026, 1, 1, tzinfo=timezone.utc)  # runs every 6 hours from here


@dataclass(frozen=True)
class History:
    path: Path
    dataset: str
    models: tuple[str, ...]
    run_ids: tuple[str, ...]
    results: int


def _cases(n: int) -> list[dict[str, Any]]:
    return [{"id": f"case-{i:05d}", "input_text": f"Case {i}: some input", "task_type": TASKS[i % 2],
             "expected_output": f"answer {i}" if i % 2 == 0 else {"vendor": f"V{i}", "total": i}} for i in range(n)]


def _conditions(run: int, runs: int) -> tuple[str, dict[str, Any]]:
    """(prompt template, conditions) of the run-th of `runs`: the prompt changes at 40%, params at 70%."""
    template = "Answer: {input}" if run < 0.4 * runs else "Answer briefly: {input}"
    temperature = 0.0 if run < 0.7 * runs else 0.2
    models = {m: {"model": f"openai/{m}", "api_base": None, "params": {"temperature": temperature}, "overrides": {}}
              for m in MODELS}
    return template, {"prompt": {"name": "default", "template": template}, "shared": {"temperature": temperature},
                      "models": models, "repeat": 1}


def generate_history(path: str | Path, runs: int, results_per_run: int, seed: int = 11) -> History:
    """A history of `runs` finished runs x `results_per_run` scored results (split over MODELS) in
    a new SQLite file at `path`. Provider model strings change at 85% of the runs."""
    from core.common.hashing import content_hash
    from core.datasets.versions import snapshot
    from store import connect
    from store import datasets as store_ds
    from store import runs as store_runs
    from store import scores as store_scores
    from store.db import write

    path = Path(path)
    db = connect(path)
    db.execute("PRAGMA synchronous=OFF")  # building the fixture only
    n_cases = max(1, results_per_run // len(MODELS))
    cases = _cases(n_cases)
    with write(db):
        ds_id = store_ds.create_dataset(db, DATASET)
        store_ds.insert_cases(db, ds_id, cases)
    version, _ = snapshot(db, ds_id, "bench")
    rng = random.Random(seed)
    run_ids = []
    for k in range(runs):
        run_id = f"r-{k:05d}"
        template, cond = _conditions(k, runs)
        provider = "2025-01" if k < 0.85 * runs else "2025-06"
        created = (START + timedelta(hours=6 * k)).isoformat(timespec="microseconds")
        with write(db):
            prompt_id = store_runs.upsert_prompt(db, name="default", content_hash=content_hash(template), system=None,
                                                 template=template, per_task={})
            store_runs.create_run(db, {
                "id": run_id, "dataset_id": ds_id, "dataset_version_id": version["id"],
                "dataset_hash": version["content_hash"], "prompt_id": prompt_id, "prompt_name": "default",
                "config": {"conditions": cond, "scoring": {"tasks": {}, "scorers": {}, "judge": {}}},
                "config_hash": content_hash(cond), "models": list(MODELS), "repeats": 1, "app_version": "bench"})
            scores = []
            for i, case in enumerate(cases):
                for j, model in enumerate(MODELS):
                    passed = rng.random() < 0.8 - 0.05 * j
                    row = {"run_id": run_id, "case_id": case["id"], "model": model, "repeat": 0, "status": "ok",
                           "output": "x", "latency_ms": rng.uniform(200, 2000), "input_tokens": 120,
                           "output_tokens": 20, "cost_usd": 0.0002, "cost_status": "config", "attempts": 1,
                           "provider_model": f"{model}-{provider}", "system_fingerprint": f"fp_{provider}"}
                    rid = store_runs.insert_result(db, row)
                    details: dict[str, Any] = {"mode": "text"}
                    if case["task_type"] == "invoice":
                        details = {"fields": {"vendor": {"verdict": "match"},
                                              "total": {"verdict": "match" if passed else "wrong"}},
                                   "matched": 1 + passed, "total": 2}
                    scores.append({"result_id": rid, "run_id": run_id, "round": 1, "scorer": case["task_type"],
                                   "status": "ok", "score": float(passed), "passed": passed, "details": details})
            store_scores.insert_scores(db, scores)
            db.execute("UPDATE runs SET status = 'finished', finished_at = ?, created_at = ? WHERE id = ?",
                       [created, created, run_id])
        run_ids.append(run_id)
    db.close()
    return History(path=path, dataset=DATASET, models=MODELS, run_ids=tuple(run_ids),
                   results=runs * n_cases * len(MODELS))


def _median(fn: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--results-per-run", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()

    from core.trends.aggregates import refresh
    from core.trends.queries import list_series, series_points
    from store import connect

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        history = generate_history(Path(tmp) / "assay.db", args.runs, args.results_per_run)
        print(f"history: {history.results:,} results over {args.runs} runs, {len(history.models)} models "
              f"(generated in {time.perf_counter() - t0:.1f} s)")
        db = connect(history.path)
        t0 = time.perf_counter()
        built = refresh(db)
        print(f"aggregates built once: {built.runs} runs, {built.rows} rows in {time.perf_counter() - t0:.1f} s")
        ms, _ = _median(lambda: refresh(db), args.rounds)
        print(f"refresh, nothing stale: {ms:.1f} ms (median of {args.rounds})")
        ms, rows = _median(lambda: list_series(db), args.rounds)
        print(f"list_series: {len(rows)} series in {ms:.1f} ms (median of {args.rounds})")
        ms, series = _median(lambda: series_points(db, DATASET, MODELS[0]), args.rounds)
        reasons = sorted({r for p in series.points for r in p.breaks})
        print(f"series_points pass_rate: {len(series.points)} points, {series.points[-1].segment} breaks "
              f"({'; '.join(reasons)}) in {ms:.1f} ms (median of {args.rounds})")
        ms, series = _median(lambda: series_points(db, DATASET, MODELS[0], "invoice", "field:total"), args.rounds)
        print(f"series_points field:total (invoice): {len(series.points)} points in {ms:.1f} ms "
              f"(median of {args.rounds})")
        print(json.dumps({"results": history.results, "runs": args.runs}))
        db.close()


if __name__ == "__main__":
    main()
