"""Review screen figures on a large run. A plain script: it prints what it measured.

    .venv/bin/python bench/review_bench.py [--cases 10000] [--models 4] [--rounds 3]

Builds, in a temporary workspace, a dataset of N cases (three task types, three difficulties), a
baseline run and a run of M models on it (one result and one score row per call, 2% call errors),
written through the store functions (one transaction per batch). Then measures:

1. Core timings (median of `--rounds`): classing every (case, repeat) (`build_index`, without and
   with the baseline), counts + the first page of 50 rows, a text search, the comparison table
   (`comparison_table`, the report's figures without the pairwise tests) and the paired verdicts
   (`paired_verdicts`, McNemar + a 2,000-resample bootstrap per pair).
2. Time to first paint: the app, headless (Pilot, 120x36), opened on the Review screen of the
   run, from `AssayApp(...)` until the case list shows its first page (median of `--rounds`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CONFIG = """
[tasks.sentiment]
kind = "classification"
labels = ["positive", "negative", "neutral"]

[tasks.invoice]
kind = "extraction"
fields = ["vendor", "total"]
"""
LABELS = ("positive", "negative", "neutral")


def _cases(n: int) -> list[dict]:
    out = []
    for i in range(n):
        kind = ("sentiment", "invoice", "qa")[i % 3]
        expected: object = (LABELS[i % 3] if kind == "sentiment" else {"vendor": f"V{i}", "total": i}
                            if kind == "invoice" else f"answer {i}")
        out.append({"id": f"case-{i:05d}", "input_text": f"Case {i}: " + "some input text " * 8,
                    "expected_output": expected, "task_type": kind, "difficulty": ("easy", "medium", "hard")[i % 3]})
    return out


def _score(kind: str, i: int, passed: bool) -> tuple[str, float, dict]:
    """(output, score, details) of one answer, shaped like the real scorers'."""
    if kind == "sentiment":
        want = LABELS[i % 3]
        got = want if passed else LABELS[(i + 1) % 3]
        return got, float(passed), {"expected": want, "predicted": got, "valid_label": True}
    if kind == "invoice":
        total = i if passed else i + 1
        out = json.dumps({"vendor": f"V{i}", "total": total})
        fields = {"vendor": {"verdict": "match", "expected": f"V{i}", "got": f"V{i}"},
                  "total": {"verdict": "match" if passed else "wrong", "expected": str(i), "got": str(total)}}
        return out, 1.0 if passed else 0.5, {"fields": fields, "matched": 1 + passed, "total": 2, "threshold": 1.0}
    return (f"answer {i}" if passed else "something else"), float(passed), {"mode": "text"}


def _add_run(db, run_id: str, ds_id: int, version_id: int, models: list[str], cases: list[dict],
             rates: list[float], rng: random.Random) -> None:
    from store import runs as store_runs
    from store import scores as store_scores
    from store.db import write

    with write(db):
        store_runs.create_run(db, {
            "id": run_id, "dataset_id": ds_id, "dataset_version_id": version_id, "dataset_hash": "bench",
            "prompt_name": "default", "config": {}, "config_hash": "bench", "models": models, "repeats": 1,
            "app_version": "bench"})
        scores = []
        for i, case in enumerate(cases):
            for model, rate in zip(models, rates):
                row = {"run_id": run_id, "case_id": case["id"], "model": model, "repeat": 0,
                       "latency_ms": rng.uniform(200, 2000), "input_tokens": 120, "output_tokens": 20,
                       "cost_usd": 0.0002, "cost_status": "config", "attempts": 1}
                if rng.random() < 0.02:
                    store_runs.insert_result(db, {**row, "status": "error", "error_class": "timeout",
                                                  "error_message": "timed out", "latency_ms": None, "cost_usd": None})
                    continue
                output, score, details = _score(case["task_type"], i, rng.random() < rate)
                rid = store_runs.insert_result(db, {**row, "status": "ok", "output": output})
                scores.append({"result_id": rid, "run_id": run_id, "round": 1, "scorer": case["task_type"],
                               "status": "ok", "score": score, "passed": score == 1.0, "details": details})
        store_scores.insert_scores(db, scores)
        db.execute("UPDATE runs SET status = 'finished' WHERE id = ?", [run_id])


def build(root: Path, n: int, n_models: int) -> tuple[str, str]:
    """A workspace with a baseline run and a run of `n_models` models on `n` cases; their ids."""
    from core.datasets.versions import snapshot
    from store import connect
    from store import datasets as store_ds
    from store.db import write

    root.mkdir(parents=True, exist_ok=True)
    (root / "assay.toml").write_text(CONFIG, encoding="utf-8")
    db = connect(root / "assay.db")
    db.execute("PRAGMA synchronous=OFF")  # building the fixture only; the measurements use the app's settings
    cases = _cases(n)
    with write(db):
        ds_id = store_ds.create_dataset(db, "bench")
        store_ds.insert_cases(db, ds_id, cases)
    version, _ = snapshot(db, ds_id, "bench")
    models = [f"model-{k}" for k in range(n_models)]
    rng = random.Random(7)
    _add_run(db, "r-1-baseline", ds_id, version["id"], models, cases, [0.7] * n_models, rng)
    _add_run(db, "r-2-candidate", ds_id, version["id"], models, cases,
             [0.6 + 0.3 * k / max(n_models - 1, 1) for k in range(n_models)], rng)
    db.close()
    return "r-2-candidate", "r-1-baseline"


def _median(fn, rounds: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def core_timings(root: Path, run_id: str, baseline: str, rounds: int) -> None:
    from core.config.schema import load_config
    from core.review.cases import CaseQuery, build_index, class_counts, page, search_ids
    from core.review.compare import comparison_table, paired_verdicts
    from store import connect

    db = connect(root / "assay.db", migrate=False)
    cfg = load_config(root / "assay.toml")
    t, index = _median(lambda: build_index(db, run_id), rounds)
    print(f"build_index ({len(index.entries)} rows x {len(index.models)} models): {t * 1000:.0f} ms")
    t, _ = _median(lambda: (class_counts(index), page(db, index, CaseQuery(), limit=50)), rounds)
    print(f"class counts + first page of 50: {t * 1000:.0f} ms")
    t, _ = _median(lambda: page(db, index, CaseQuery(cls="disagree"), limit=50), rounds)
    print(f"first page of 'disagree': {t * 1000:.0f} ms")
    t, _ = _median(lambda: search_ids(db, index, "case-0999"), rounds)
    print(f"text search: {t * 1000:.0f} ms")
    t, with_base = _median(lambda: build_index(db, run_id, baseline=baseline), rounds)
    print(f"build_index with a baseline: {t * 1000:.0f} ms "
          f"({class_counts(with_base)['regressed']} regressed, {class_counts(with_base)['improved']} improved)")
    t, _ = _median(lambda: comparison_table(db, run_id, cfg), 1)
    print(f"comparison_table: {t * 1000:.0f} ms")
    t, verdicts = _median(lambda: paired_verdicts(db, index), 1)
    print(f"paired_verdicts, A vs B ({verdicts[0].matched} pairs): {t * 1000:.0f} ms")
    t, verdicts = _median(lambda: paired_verdicts(db, with_base), 1)
    print(f"paired_verdicts vs baseline ({len(verdicts)} pairs of models): {t * 1000:.0f} ms")
    db.close()


def first_paint(root: Path, run_id: str) -> float:
    from core.config.schema import load_config
    from core.workspace import resolve
    from tui.app import AssayApp

    async def main() -> float:
        ws = resolve(str(root), None)
        t0 = time.perf_counter()
        app = AssayApp(ws, config=load_config(ws.config_path), annotator="bench", start="review",
                       dataset=(1, "bench"), stable_display=True)
        async with app.run_test(size=(120, 36)):
            while True:
                screen = app.screen
                if getattr(screen, "shown_run", None) == run_id and screen.query_one("#cases").row_count:
                    break
                await asyncio.sleep(0.002)
            return time.perf_counter() - t0

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        t0 = time.perf_counter()
        run_id, baseline = build(root, args.cases, args.models)
        print(f"built {args.cases} cases x {args.models} models, two runs, in {time.perf_counter() - t0:.1f} s")
        core_timings(root, run_id, baseline, args.rounds)
        times = sorted(first_paint(root, run_id) for _ in range(args.rounds))
        print(f"Review first paint (Pilot, 120x36): median {statistics.median(times) * 1000:.0f} ms, "
              f"max {times[-1] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
