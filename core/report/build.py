"""A run's report as typed figures (core.report.types.Report): `build_report(db, run_id)`.

Definitions (also in README "Scoring and reports"):
- Each result (case x model x repeat) gets one verdict from its latest score round: error if any
  of its scorers errored, else pass when every scorer passed, score = mean of its scorers' scores.
- n: results. errors / skipped: calls that failed or were not made. scorer_errors: ok calls whose
  scoring failed. unscored: ok calls nothing could score (unlabeled case without assertions).
- pass_rate = passed / scored (scored = ok calls with an ok verdict), with a 95% Wilson interval.
  pass_rate_incl_errors = passed / (scored + scorer_errors + errors + skipped): every answer that
  should have been graded and was not counts as a failure. `--fail-under` gates on this one.
- Latency p50/p95: ok results that were not served from the cache (type-7 percentiles).
- Cost: what the answers cost (ok results; a cached answer counts at its original price). cost
  status "known" (every ok result priced), "partial" (some unknown: figures are lower bounds) or
  "unknown" (none priced: shown as unknown, never 0). cost_per_correct = cost / passed.
  Judge cost is reported separately.
- Pairwise: for each pair of models, the (case, repeat) pairs both have an ok verdict on. Pass-rate
  difference with an exact McNemar p-value, and a seeded paired bootstrap 95% interval of the
  mean score difference; verdict at alpha = 0.05 from the McNemar test.
- Judges: every LLM judge (rubric x judge model) whose verdicts count in the run, with its
  calibration against expert grades (core.labeling.calibration); an uncalibrated judge (too few
  graded outputs, or kappa below [judge] min_kappa) is marked in every rendering.
- Flags (core.report.flags): the models the dataset's latest contamination probe suspects
  (`contamination`), and in a run with repeats each pairwise comparison whose difference is below
  the minimum detectable one at the flip rate measured between the repeats (`noise_floor`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import sqlite_utils

from core.common.stats import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, mcnemar_exact, paired_bootstrap, percentile, wilson_interval
from core.config.schema import WorkspaceConfig
from core.errors import NotFoundError
from core.report.flags import contamination_flags, judge_statuses, pairwise_noise, repeat_flip_rates
from core.report.types import (ALL, INVALID, BootstrapMethod, ClassFigures, ConfusionMatrix, FieldAccuracy,
                               GradedResult, GroupFigures, HumanOverride, Method, PairwiseComparison,
                               Report, RunHeader, ScorerVerdict)
from scorers.base import combine
from store import runs as store_runs
from store import scores as store_scores
from store.datasets import iter_version_cases
from store.overrides import OverrideRow, latest_overrides

ALPHA = 0.05


# --- per-result verdicts ------------------------------------------------------------------------


def _explain(row: dict[str, Any]) -> str:
    """One line on why a scorer did not pass (for JUnit messages and the JSON results)."""
    d = row["details"]
    if row["status"] == "error":
        return f"{row['scorer']}: error: {d.get('error', '')}"
    if "fields" in d:
        bad = [f"{k} {v['verdict']}" for k, v in d["fields"].items() if v["verdict"] not in ("match", "absent")]
        why = d.get("reason") or ", ".join(bad)
        return f"{row['scorer']}: {d.get('matched', 0)}/{d.get('total', 0)} fields right ({why})"
    if "predicted" in d:
        invalid = "" if d.get("valid_label") is not False else " (not a valid label)"
        return f"{row['scorer']}: expected {d.get('expected')!r}, got {d.get('predicted')!r}{invalid}"
    if "assertions" in d:
        failed = [f"{a['type']}: {a['reason']}" for a in d["assertions"] if not a["pass"] and a["weight"] > 0]
        return f"{row['scorer']}: score {row['score']:.3f}; " + "; ".join(failed)
    return f"{row['scorer']}: score {row['score']:.3f}" + (f" ({d['reason']})" if d.get("reason") else "")


def _verdict(r: dict[str, Any], rows: list[dict[str, Any]]) -> tuple[str, float | None, str | None]:
    """(verdict, score, message) of one stored result given its latest score rows."""
    if r["status"] != "ok":
        return r["status"], None, f"{r['error_class'] or r['status']}: {r['error_message'] or ''}".strip()
    if not rows:
        return "unscored", None, None
    overall = combine(rows)
    if overall.status == "error":
        return "scorer_error", None, "; ".join(_explain(row) for row in rows if row["status"] == "error")
    if overall.passed:
        return "pass", overall.score, None
    return "fail", overall.score, "; ".join(_explain(row) for row in rows if not row["passed"])


def _graded_result(r: dict[str, Any], task_type: str, rows: list[dict[str, Any]],
                   override: OverrideRow | None = None) -> GradedResult:
    verdict, score, message = _verdict(r, rows)
    human = None
    if override is not None:
        human = HumanOverride(passed=override.passed, replaces=override.replaces, reason=override.reason,
                              annotator=override.annotator, created_at=override.created_at, scored=verdict)
        verdict, score = ("pass", 1.0) if override.passed else ("fail", 0.0)
        message = None if override.passed else f"human override by {override.annotator}: {override.reason}"
    return GradedResult(
        result_id=r["id"], case_id=r["case_id"], model=r["model"], repeat=r["repeat"], task_type=task_type,
        status=r["status"], latency_ms=r["latency_ms"], latency_first_ms=r["latency_first_ms"],
        cached=bool(r["cached"]), cost_usd=r["cost_usd"], input_tokens=r["input_tokens"],
        output_tokens=r["output_tokens"], error_class=r["error_class"], error_message=r["error_message"],
        verdict=verdict, score=score,
        scorers=[ScorerVerdict(scorer=row["scorer"], status=row["status"], score=row["score"],
                               passed=row["passed"], round=row["round"]) for row in rows] if r["status"] == "ok" else [],
        message=message, override=human, client_ms=r.get("client_ms"),
    )


def graded_result(db: sqlite_utils.Database, result_id: int) -> GradedResult:
    """One result with its verdict now (latest score round, human override in force)."""
    found = store_scores.result_with_scores(db, result_id)
    if found is None:
        raise NotFoundError(f"no result {result_id}")
    r, rows = found
    run = store_runs.get_run(db, r["run_id"])
    task = next((c.get("task_type") or "generation" for c in iter_version_cases(db, run["dataset_version_id"])
                 if c["id"] == r["case_id"]), "generation")
    return _graded_result(r, task, rows, latest_overrides(db, r["run_id"]).get(result_id))


# --- summaries ----------------------------------------------------------------------------------


def _tokens(counts: Iterable[int | None]) -> int | None:
    """Summed tokens; None when no result reported any (a logged model's, a provider without usage)."""
    known = [n for n in counts if n is not None]
    return sum(known) if known else None


def _cost(results: list[GradedResult]) -> dict[str, Any]:
    """The cost fields of GroupFigures."""
    ok = [e for e in results if e.status == "ok"]
    known = [e.cost_usd for e in ok if e.cost_usd is not None]
    unknown = len(ok) - len(known)
    if not ok or not known:
        status = "unknown" if ok else "known"
    else:
        status = "partial" if unknown else "known"
    total = math.fsum(known) if (known or not ok) else None
    passed = sum(e.verdict == "pass" for e in results)
    return {
        "cost_usd": total, "cost_status": status, "cost_unknown_results": unknown,
        "cost_per_case": None if total is None or not ok else total / len(ok),
        "cost_per_correct": None if total is None or not passed else total / passed,
    }


def _timed(results: list[GradedResult]) -> list[GradedResult]:
    """The results with a latency: fresh ok calls (cached answers have none)."""
    return [e for e in results if e.status == "ok" and not e.cached and e.latency_ms is not None]


def _client_p50(timed: list[GradedResult]) -> float | None:
    return percentile(sorted(e.client_ms for e in timed if e.client_ms is not None), 50, presorted=True)


def summarize(results: list[GradedResult], judge_rows: Iterable[dict[str, Any]] = ()) -> GroupFigures:
    """Figures for one group of results (one model, optionally one task type)."""
    verdicts = Counter(e.verdict for e in results)
    scored = verdicts["pass"] + verdicts["fail"]
    passed = verdicts["pass"]
    strict_n = scored + verdicts["scorer_error"] + verdicts["error"] + verdicts["skipped"]
    scores = [e.score for e in results if e.graded]
    timed = _timed(results)
    latencies = sorted(e.latency_ms for e in timed)
    # Time to first token exists only for streamed calls ([run] stream = true).
    firsts = sorted(e.latency_first_ms for e in timed if e.latency_first_ms is not None)
    judge_costs = [r["judge_cost_usd"] for r in judge_rows if r["judge_model"]]
    judge_known = [c for c in judge_costs if c is not None]
    return GroupFigures(
        n=len(results), ok=sum(e.status == "ok" for e in results),
        errors=verdicts["error"], skipped=verdicts["skipped"], scorer_errors=verdicts["scorer_error"],
        unscored=verdicts["unscored"], scored=scored, passed=passed, failed=verdicts["fail"],
        pass_rate=passed / scored if scored else None,
        pass_rate_ci95=wilson_interval(passed, scored) if scored else None,
        pass_rate_incl_errors=passed / strict_n if strict_n else None,
        mean_score=math.fsum(scores) / len(scores) if scores else None,
        latency_p50_ms=percentile(latencies, 50, presorted=True),
        latency_p95_ms=percentile(latencies, 95, presorted=True),
        latency_n=len(latencies),
        client_p50_ms=_client_p50(timed),
        first_token_p50_ms=percentile(firsts, 50, presorted=True),
        first_token_p95_ms=percentile(firsts, 95, presorted=True),
        cached=sum(e.cached for e in results),
        input_tokens=_tokens(e.input_tokens for e in results),
        output_tokens=_tokens(e.output_tokens for e in results),
        **_cost(results),
        judge_scores=len(judge_costs),
        judge_cost_usd=math.fsum(judge_known) if judge_known else None,
        judge_cost_status=("none" if not judge_costs else "unknown" if not judge_known
                           else "partial" if len(judge_known) < len(judge_costs) else "known"),
    )


def field_accuracy(rows: Iterable[dict[str, Any]]) -> dict[str, FieldAccuracy]:
    """Per extraction field: counts of each verdict and accuracy (= match / n), over the cases the
    field applies to (verdict "absent", on neither side, is not counted)."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        if row["status"] == "ok" and isinstance(row["details"].get("fields"), dict):
            for name, f in row["details"]["fields"].items():
                if f["verdict"] != "absent":
                    out[name][f["verdict"]] += 1
    return {
        name: FieldAccuracy(n=sum(c.values()), match=c["match"], wrong=c["wrong"], missing=c["missing"],
                            extra=c["extra"], accuracy=c["match"] / sum(c.values()))
        for name, c in out.items()
    }


def confusion(rows: Iterable[dict[str, Any]], labels: list[str]) -> ConfusionMatrix | None:
    """Rows: expected label; columns: predicted label, or (invalid) when the prediction is not one
    of the task's labels. Per-class precision/recall/F1 (None when undefined: no predictions or
    no cases of the class)."""
    pairs = [(r["details"]["expected"], r["details"]["predicted"], r["details"].get("valid_label"))
             for r in rows if r["status"] == "ok" and "predicted" in r["details"]]
    if not pairs:
        return None
    order = list(labels)
    for expected, predicted, valid in pairs:
        for label in (expected, predicted if valid is not False else None):
            if label is not None and label not in order:
                order.append(label)
    cols = order + [INVALID]
    matrix = {e: dict.fromkeys(cols, 0) for e in order}
    for expected, predicted, valid in pairs:
        matrix[expected][INVALID if valid is False else predicted] += 1
    per_class = {}
    for label in order:
        tp = matrix[label][label]
        fp = sum(matrix[e][label] for e in order if e != label)
        fn = sum(matrix[label][c] for c in cols if c != label)
        precision = tp / (tp + fp) if tp + fp else None
        recall = tp / (tp + fn) if tp + fn else None
        f1 = (2 * precision * recall / (precision + recall) if precision and recall
              else 0.0 if precision is not None and recall is not None else None)
        per_class[label] = ClassFigures(support=tp + fn, precision=precision, recall=recall, f1=f1)
    return ConfusionMatrix(labels=order, columns=cols, matrix=matrix, per_class=per_class,
                           invalid=sum(1 for _, _, v in pairs if v is False), n=len(pairs))


def compare(a: str, b: str, results: list[GradedResult]) -> PairwiseComparison:
    """Model a against model b on the (case, repeat) pairs both have an ok verdict for."""
    by_key: dict[str, dict[tuple[str, int], GradedResult]] = {a: {}, b: {}}
    for e in results:
        if e.model in by_key and e.graded:
            by_key[e.model][(e.case_id, e.repeat)] = e
    keys = sorted(by_key[a].keys() & by_key[b].keys())
    return compare_pairs(a, b, [((by_key[a][k].verdict == "pass", by_key[a][k].score),
                                 (by_key[b][k].verdict == "pass", by_key[b][k].score)) for k in keys])


def compare_pairs(a: str, b: str, pairs: Sequence[tuple[tuple[bool, float], tuple[bool, float]]]) -> PairwiseComparison:
    """a against b on matched pairs of graded verdicts, one ((a passed, a score), (b passed, b score))
    per pair in a stable order (the bootstrap resamples them by position). Also used by the Review
    screen to compare a run with its baseline."""
    pa = [x[0] for x, _ in pairs]
    pb = [y[0] for _, y in pairs]
    n_b = sum(x and not y for x, y in zip(pa, pb))
    n_c = sum(y and not x for x, y in zip(pa, pb))
    p = mcnemar_exact(n_b, n_c)
    boot = paired_bootstrap([x[1] - y[1] for x, y in pairs])
    if not pairs:  # e.g. every call of one model failed: nothing was compared, so nothing is "no different"
        verdict = "no graded pairs to compare"
    elif p < ALPHA:
        verdict = f"{a} better" if n_b > n_c else f"{b} better"
    else:
        verdict = "no significant difference"
    n = len(pairs)
    return PairwiseComparison(
        a=a, b=b, pairs=n,
        pass_rate_a=sum(pa) / n if n else None, pass_rate_b=sum(pb) / n if n else None,
        pass_rate_diff=(sum(pa) - sum(pb)) / n if n else None,
        a_only_passed=n_b, b_only_passed=n_c, mcnemar_p=p,
        score_diff=boot.mean if boot else None,
        score_diff_ci95=(boot.low, boot.high) if boot else None,
        verdict=verdict,
    )


# --- the report -----------------------------------------------------------------------------------


def _run_header(run: dict[str, Any]) -> RunHeader:
    return RunHeader(
        id=run["id"], dataset=run["dataset"], dataset_version=run["dataset_version"], models=run["models"],
        repeats=run["repeats"], prompt=run["prompt_name"], status=run["status"], created_at=run["created_at"],
        finished_at=run["finished_at"], loop_lag_p50_ms=run.get("loop_lag_p50_ms"),
        loop_lag_p95_ms=run.get("loop_lag_p95_ms"),
    )


def latest_run_id(db: sqlite_utils.Database) -> str:
    run_id = store_runs.latest_run_id(db)
    if run_id is None:
        raise NotFoundError("no runs yet")
    return run_id


def build_report(db: sqlite_utils.Database, run_id: str, cfg: WorkspaceConfig | None = None, *,
                 pairwise: bool = True) -> Report:
    """`pairwise=False` leaves out the model-against-model comparisons (their bootstrap is the slow
    part on a large run) for a caller that computes them later (the Review screen)."""
    cfg = cfg or WorkspaceConfig()
    stored = store_runs.get_run(db, run_id)
    if stored is None:
        raise NotFoundError(f"no run '{run_id}'")
    run = _run_header(stored)
    task_of = {c["id"]: c.get("task_type") or "generation"
               for c in iter_version_cases(db, stored["dataset_version_id"])}
    latest = store_scores.latest_scores(db, run_id)
    overrides = latest_overrides(db, run_id)
    results, rows_of = [], {}
    for r in store_scores.iter_results(db, run_id):
        rows = latest.get(r["id"], [])
        rows_of[r["id"]] = rows
        results.append(_graded_result(r, task_of.get(r["case_id"], "generation"), rows, overrides.get(r["id"])))
    models = list(run.models) + sorted({e.model for e in results} - set(run.models))
    task_types = sorted({e.task_type for e in results})

    summary: dict[str, dict[str, GroupFigures]] = {}
    fields: dict[str, dict[str, dict[str, FieldAccuracy]]] = {}
    matrices: dict[str, dict[str, ConfusionMatrix]] = {}
    for model in models:
        mine = [e for e in results if e.model == model]
        groups = {ALL: mine, **{t: [e for e in mine if e.task_type == t] for t in task_types}}
        summary[model] = {}
        for group, group_results in groups.items():
            if group_results:
                judge_rows = [row for e in group_results for row in rows_of[e.result_id]]
                summary[model][group] = summarize(group_results, judge_rows)
        for task in task_types:
            rows = [row for e in mine if e.task_type == task for row in rows_of[e.result_id]]
            acc = field_accuracy(rows)
            if acc:
                fields.setdefault(model, {})[task] = acc
            matrix = confusion(rows, cfg.valid_labels(task))
            if matrix:
                matrices.setdefault(model, {})[task] = matrix
    rounds = sorted({row["round"] for rows in rows_of.values() for row in rows})
    judged = any(row["judge_model"] for rows in rows_of.values() for row in rows)
    pairs = [compare(a, b, results) for a, b in itertools.combinations(models, 2)] if pairwise else []
    if pairs and run.repeats >= 2:
        rates = repeat_flip_rates(results)
        pairs = [dataclasses.replace(c, noise_floor=pairwise_noise(c, rates)) for c in pairs]
    suspected = contamination_flags(db, run.dataset)
    timed = _timed(results)
    run = dataclasses.replace(run, client_p50_ms=_client_p50(timed), latency_n=len(timed),
                              latency_kernel_n=sum(e.client_ms is not None for e in timed))
    return Report(
        run=run, score_rounds=rounds, task_types=task_types, models=models,
        summary=summary, field_accuracy=fields, confusion=matrices, pairwise=pairs,
        results=results,
        method=Method(ci="Wilson score 95%", paired_test="exact McNemar (two-sided)", alpha=ALPHA,
                      bootstrap=BootstrapMethod(resamples=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED)),
        overrides=sum(e.override is not None for e in results),
        judges=judge_statuses(db, cfg, run_id) if judged else [],
        contamination=[suspected[m] for m in models if m in suspected],
    )


def gate(report: Report, threshold: float, model: str | None = None) -> list[str]:
    """Models whose pass rate incl. errors is below `threshold` (one line each); [] = gate passed."""
    if model is not None and model not in report.summary:
        raise NotFoundError(f"model '{model}' is not in run {report.run.id}")
    failures = []
    for name in [model] if model else report.models:
        figures = report.figures(name)
        rate = figures.pass_rate_incl_errors if figures else None
        if rate is None or rate < threshold:
            shown = "no graded results" if rate is None else f"{rate:.4f}"
            failures.append(f"{name}: pass rate incl. errors {shown} < {threshold:g}")
    return failures
