"""The contamination probe: has a model seen this dataset's cases before?

For each case of a dataset version and each model, up to three calls through the run's own
`ModelClient` (same pacing, concurrency limits, key lookup, error classification and redaction):

- continue: the first part of the case's input (`split` of its words, default half), with the
  instruction to continue the text verbatim. Its output is measured against the real remainder
  (`core.run.overlap`: longest common token run over the remainder's length, n-gram precision).
- control: the same prefix words in a shuffled order (fixed per case). No model can recognise it,
  so its overlap with the remainder is what chance and on-topic writing give.
- expected: the dataset name, case id and task type without the input, asking for the expected
  output. Reproduced when the normalised output equals it, or (for an expected output of at least
  n tokens) when one common run covers `threshold` of it. Its chance rate is the same model's
  answers compared with another case's expected output (rotated by one), without extra calls.

A case is flagged when its continuation shares one run of at least `threshold` (default 0.5) of
the remainder. Per model the report gives the share flagged, the control share, an exact McNemar
p-value on the paired (continue, control) verdicts, the same for the expected-output probe, the
worst cases and the cost (None when any ok call had no price: unknown, never 0).

Results are stored as a probe run of kind 'contamination' (`store.probes`, tables of their own:
no eval view reads them by mistake). Sampling is greedy (temperature 0) and uncached, so each
probe asks the model again.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlite_utils

import core
from core.common.stats import mcnemar_exact, wilson_interval
from core.config.schema import WorkspaceConfig
from core.errors import NotFoundError, UsageError
from core.models.client import CallOutcome, ModelClient
from core.models.provider import model_calls
from core.models.redact import from_env
from core.run.overlap import DEFAULT_N, normalised, overlap, shuffled_control, split_words
from core.run.plan import check_models, dataset_version
from store import datasets as store_ds
from store import probes as store_probes

KIND = "contamination"
CONTINUE_SYSTEM = ("Continue the following text exactly as it continues in its original source, word for word, "
                   "from memory. Reply with the continuation only.")
EXPECTED_SYSTEM = "Recall an evaluation dataset from memory. Reply with the requested answer only."
EXPECTED_TEMPLATE = ("Dataset: {dataset}\nCase id: {case_id}\nTask type: {task_type}\n"
                     "What is this case's expected output? Reply with it exactly.")
DEFAULT_SPLIT = 0.5
DEFAULT_THRESHOLD = 0.5
DEFAULT_MAX_TOKENS = 256
SIGNIFICANCE = 0.05
WORST_CASES = 5


@dataclass(frozen=True)
class ProbeRequest:
    dataset: str
    models: Sequence[str]
    split: float = DEFAULT_SPLIT  # share of the input's words given as the prefix
    threshold: float = DEFAULT_THRESHOLD  # longest common run / remainder at or above which a case is flagged
    ngram: int = DEFAULT_N
    max_tokens: int = DEFAULT_MAX_TOKENS
    version: int | None = None  # a past dataset version; None = a snapshot of the current content
    concurrency: int | None = None  # None = [run] concurrency


@dataclass(frozen=True, slots=True)
class CaseOverlap:
    """One case of one model, for the worst-case list."""

    case_id: str
    longest_run_ratio: float | None  # continuation vs the real remainder
    ngram_precision: float | None
    control_ratio: float | None  # the shuffled control's continuation vs the same remainder
    expected_reproduced: bool | None  # None: no expected output, or that call failed


@dataclass(frozen=True, slots=True)
class ModelContamination:
    model: str
    cases: int  # cases whose continue and control calls both succeeded (the paired base)
    errors: int  # probe calls that ended in error or were skipped
    flagged: int
    flagged_share: float | None
    flagged_ci: tuple[float, float] | None  # Wilson 95%
    control_flagged: int
    control_share: float | None
    p_value: float | None  # exact McNemar, flagged vs control on the same cases
    mean_run_ratio: float | None
    mean_control_ratio: float | None
    mean_ngram_precision: float | None  # over cases long enough to measure
    mean_control_ngram_precision: float | None
    expected_cases: int  # cases with an expected output whose expected probe succeeded
    expected_reproduced: int
    expected_share: float | None
    expected_chance_share: float | None  # vs another case's expected output
    expected_p_value: float | None
    suspected: bool  # either probe above its control at p < 0.05
    worst: tuple[CaseOverlap, ...]
    cost_usd: float | None  # None when an ok call had no price
    cost_unknown: int


@dataclass(frozen=True, slots=True)
class ContaminationReport:
    run_id: str
    kind: str
    dataset: str
    dataset_version: int
    status: str  # running | finished | interrupted | failed
    created_at: str
    split: float
    threshold: float
    ngram: int
    cases: int  # cases of the version probed (not excluded, at least two words)
    too_short: int  # cases left out: fewer than two words of input
    models: tuple[ModelContamination, ...]


def _check(req: ProbeRequest) -> None:
    if not 0 < req.split < 1:
        raise UsageError(f"--split must be between 0 and 1 (exclusive), got {req.split:g}")
    if not 0 < req.threshold <= 1:
        raise UsageError(f"--threshold must be above 0 and at most 1, got {req.threshold:g}")
    if req.ngram < 1:
        raise UsageError("the n-gram size must be at least 1")
    if req.max_tokens < 1:
        raise UsageError("max tokens must be at least 1")
    if req.concurrency is not None and req.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")


def _expected_text(expected: Any) -> str | None:
    if expected is None:
        return None
    return expected if isinstance(expected, str) else json.dumps(expected, ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True, slots=True)
class _Call:
    case_id: str
    probe: str
    messages: list[dict[str, str]]
    target: str


def _calls(dataset: str, cases: list[dict[str, Any]], split: float) -> tuple[list[_Call], int]:
    calls, too_short = [], 0
    for case in cases:
        parts = split_words(case.get("input_text") or "", split)
        if parts is None:
            too_short += 1
            continue
        prefix, remainder = parts
        for probe, text in (("continue", prefix), ("control", shuffled_control(prefix, case["id"]))):
            calls.append(_Call(case["id"], probe, [{"role": "system", "content": CONTINUE_SYSTEM},
                                                   {"role": "user", "content": text}], remainder))
        expected = _expected_text(case.get("expected_output"))
        if expected is not None:
            user = EXPECTED_TEMPLATE.format(dataset=dataset, case_id=case["id"], task_type=case.get("task_type", ""))
            calls.append(_Call(case["id"], "expected", [{"role": "system", "content": EXPECTED_SYSTEM},
                                                        {"role": "user", "content": user}], expected))
    return calls, too_short


def _reproduced(exact: bool, ratio: float | None, n_tokens: int, threshold: float, ngram: int) -> bool:
    """An expected output counts as reproduced on an exact (normalised) match, or when one common
    run covers `threshold` of it and it is long enough (n tokens) for a run to mean something."""
    return exact or (n_tokens >= ngram and ratio is not None and ratio >= threshold)


def _row(run_id: str, model: str, call: _Call, out: CallOutcome, threshold: float, ngram: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "probe_run_id": run_id, "case_id": call.case_id, "model": model, "probe": call.probe, "status": out.status,
        "output": out.output, "latency_ms": out.latency_ms, "input_tokens": out.input_tokens,
        "output_tokens": out.output_tokens, "cost_usd": out.cost_usd, "cost_status": out.cost_status,
        "error_class": out.error_class, "error_message": out.error_message,
    }
    if out.status == "ok":
        got = overlap(out.output or "", call.target, ngram)
        row.update(target_tokens=got.target_tokens, longest_run=got.longest_run,
                   longest_run_ratio=got.longest_run_ratio, ngram_precision=got.ngram_precision)
        if call.probe == "expected":
            row["exact_match"] = normalised(out.output or "") == normalised(call.target)
    return row


async def run_probe(db: sqlite_utils.Database, cfg: WorkspaceConfig, req: ProbeRequest, *,
                    config_file: str = "assay.toml") -> ContaminationReport:
    """Probe every model on the dataset and store the results; returns the report. Input problems
    raise UsageError/ConfigError/NotFoundError before any call."""
    _check(req)
    models = list(req.models)
    check_models(cfg, models, config_file)
    for name in models:
        if cfg.models[name].logged_key is not None:
            raise UsageError(f"model '{name}' answers with what production logged: there is nothing to probe")
    ds_id, version = dataset_version(db, cfg, req.dataset, req.version, "probe")
    cases = [c for c in store_ds.iter_version_cases(db, version["id"]) if not c.get("excluded")]
    calls, too_short = _calls(req.dataset, cases, req.split)
    if not calls:
        raise UsageError(f"dataset '{req.dataset}' has no case with at least two words of input to probe")
    # Greedy, bounded and identical for every model: the probe's own sampling, not [run]'s.
    run_cfg = cfg.run.model_copy(update={"temperature": 0.0, "max_tokens": req.max_tokens, "top_p": None,
                                         "seed": None, "allow_overrides": []})
    config = {"split": req.split, "threshold": req.threshold, "ngram": req.ngram, "max_tokens": req.max_tokens,
              "cases": len(cases) - too_short, "too_short": too_short, "continue_system": CONTINUE_SYSTEM,
              "expected_system": EXPECTED_SYSTEM, "expected_template": EXPECTED_TEMPLATE,
              "models": {m: {"model": cfg.models[m].model, "api_base": cfg.models[m].api_base} for m in models}}
    run_id = store_probes.create_run(db, kind=KIND, dataset_id=ds_id, dataset_version_id=version["id"],
                                     dataset_hash=version["content_hash"], models=models, config=config,
                                     app_version=core.__version__)
    status = "failed"
    try:
        async with model_calls():
            await _execute(db, cfg, run_cfg, run_id, models, calls, req)
        status = "finished"
    except (asyncio.CancelledError, KeyboardInterrupt):
        status = "interrupted"
        raise
    finally:
        store_probes.set_status(db, run_id, status)
    return contamination_report(db, run_id)


async def _execute(db: sqlite_utils.Database, cfg: WorkspaceConfig, run_cfg: Any, run_id: str, models: list[str],
                   calls: list[_Call], req: ProbeRequest) -> None:
    global_slots = asyncio.Semaphore(req.concurrency or cfg.run.concurrency)
    redactor = from_env(m.api_key_env for m in cfg.models.values())  # every configured secret, as a run does

    async def worker(model: str, client: ModelClient, queue: deque[_Call]) -> None:
        while queue:
            call = queue.popleft()
            out = await client.complete(call.messages, use_cache=False)
            store_probes.insert_result(db, _row(run_id, model, call, out, req.threshold, req.ngram))

    tasks = []
    for name in models:
        model = cfg.models[name].model_copy(update={"temperature": None, "max_tokens": None})
        client = ModelClient(name, model, run_cfg, None, global_slots=global_slots, redactor=redactor)
        queue = deque(calls)
        tasks += [asyncio.create_task(worker(name, client, queue)) for _ in range(min(client.concurrency, len(queue)))]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


# --- the report, from the stored rows ---------------------------------------------------------


def _mean(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return sum(got) / len(got) if got else None


def _share(k: int, n: int) -> float | None:
    return k / n if n else None


def _model_figures(model: str, rows: list[store_probes.ProbeResultRow], threshold: float, ngram: int,
                   expected_of: dict[str, str]) -> ModelContamination:
    by = {(r.case_id, r.probe): r for r in rows}
    case_ids = list(dict.fromkeys(r.case_id for r in rows))
    paired = [c for c in case_ids if (c, "continue") in by and (c, "control") in by
              and by[c, "continue"].status == "ok" and by[c, "control"].status == "ok"]

    def hit(row: store_probes.ProbeResultRow) -> bool:
        return row.longest_run_ratio is not None and row.longest_run_ratio >= threshold

    flags = [(hit(by[c, "continue"]), hit(by[c, "control"])) for c in paired]
    flagged, control_flagged = sum(f for f, _ in flags), sum(g for _, g in flags)
    b, c_ = sum(f and not g for f, g in flags), sum(g and not f for f, g in flags)

    # Expected probe, and its chance rate: each answer against the next case's expected output.
    exp_ids = [c for c in case_ids if (c, "expected") in by and by[c, "expected"].status == "ok"]
    reproduced: dict[str, bool] = {}
    chance: dict[str, bool] = {}
    for i, cid in enumerate(exp_ids):
        row = by[cid, "expected"]
        reproduced[cid] = _reproduced(bool(row.exact_match), row.longest_run_ratio, row.target_tokens or 0,
                                      threshold, ngram)
        other = expected_of.get(exp_ids[(i + 1) % len(exp_ids)])
        if len(exp_ids) < 2 or other is None:
            chance[cid] = False
            continue
        got = overlap(row.output or "", other, ngram)
        chance[cid] = _reproduced(normalised(row.output or "") == normalised(other), got.longest_run_ratio,
                                  got.target_tokens, threshold, ngram)
    eb = sum(reproduced[c] and not chance[c] for c in exp_ids)
    ec = sum(chance[c] and not reproduced[c] for c in exp_ids)
    n_rep, n_chance = sum(reproduced.values()), sum(chance.values())

    p = mcnemar_exact(b, c_) if paired else None
    ep = mcnemar_exact(eb, ec) if exp_ids else None
    suspected = ((p is not None and p < SIGNIFICANCE and flagged > control_flagged)
                 or (ep is not None and ep < SIGNIFICANCE and n_rep > n_chance))

    ranked = sorted((c for c in case_ids if (c, "continue") in by and by[c, "continue"].status == "ok"),
                    key=lambda c: (-(by[c, "continue"].longest_run_ratio or 0.0), c))
    worst = tuple(CaseOverlap(
        case_id=c, longest_run_ratio=by[c, "continue"].longest_run_ratio,
        ngram_precision=by[c, "continue"].ngram_precision,
        control_ratio=by[c, "control"].longest_run_ratio if (c, "control") in by else None,
        expected_reproduced=reproduced.get(c)) for c in ranked[:WORST_CASES])

    ok = [r for r in rows if r.status == "ok"]
    unpriced = sum(r.cost_usd is None for r in ok)
    return ModelContamination(
        model=model, cases=len(paired), errors=sum(r.status != "ok" for r in rows),
        flagged=flagged, flagged_share=_share(flagged, len(paired)),
        flagged_ci=wilson_interval(flagged, len(paired)) if paired else None,
        control_flagged=control_flagged, control_share=_share(control_flagged, len(paired)), p_value=p,
        mean_run_ratio=_mean([by[c, "continue"].longest_run_ratio for c in paired]),
        mean_control_ratio=_mean([by[c, "control"].longest_run_ratio for c in paired]),
        mean_ngram_precision=_mean([by[c, "continue"].ngram_precision for c in paired]),
        mean_control_ngram_precision=_mean([by[c, "control"].ngram_precision for c in paired]),
        expected_cases=len(exp_ids), expected_reproduced=n_rep, expected_share=_share(n_rep, len(exp_ids)),
        expected_chance_share=_share(n_chance, len(exp_ids)), expected_p_value=ep, suspected=suspected,
        worst=worst, cost_usd=None if unpriced else sum(r.cost_usd or 0.0 for r in ok), cost_unknown=unpriced,
    )


def contamination_report(db: sqlite_utils.Database, run_id: str) -> ContaminationReport:
    """The report of a stored probe run (finished or not)."""
    run = store_probes.get_run(db, run_id)
    if run is None:
        raise NotFoundError(f"no probe run with id '{run_id}'")
    cfg = run.config
    threshold, ngram = cfg["threshold"], cfg["ngram"]
    rows = store_probes.results(db, run_id)
    expected_of = {}
    ds_id = store_ds.dataset_id(db, run.dataset)
    version = store_ds.get_version(db, ds_id, run.dataset_version)
    if version is not None:
        for case in store_ds.iter_version_cases(db, version["id"]):
            text = _expected_text(case.get("expected_output"))
            if text is not None:
                expected_of[case["id"]] = text
    per_model = {m: [r for r in rows if r.model == m] for m in run.models}
    return ContaminationReport(
        run_id=run.id, kind=run.kind, dataset=run.dataset, dataset_version=run.dataset_version, status=run.status,
        created_at=run.created_at, split=cfg["split"], threshold=threshold, ngram=ngram, cases=cfg["cases"],
        too_short=cfg["too_short"],
        models=tuple(_model_figures(m, per_model[m], threshold, ngram, expected_of) for m in run.models),
    )


def latest_contamination(db: sqlite_utils.Database, dataset: str) -> ContaminationReport | None:
    """The newest finished probe run's report for a dataset (what reports and Review flag), or None."""
    try:
        ds_id = store_ds.dataset_id(db, dataset)
    except store_ds.DatasetMissing:
        return None
    for run in store_probes.list_runs(db, dataset_id=ds_id):
        if run.status == "finished":
            return contamination_report(db, run.id)
    return None

