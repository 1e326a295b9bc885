"""What a run will do, decided before the first call: one dataset version x N models x one prompt
x shared params, and the run row that records it.

The config hash covers the *conditions* — everything that can change a model's answer: each
model's id, api_base and effective params, the shared params and overrides, the prompt, the
repeat count, and whether responses are streamed (`stream`: it decides what latency is measured).
`stream` is only written into the conditions when some model streams, so the hash of a run that
never streamed is the one it had before the key existed (such runs stay resumable). Operational
settings (concurrency, retries, timeouts, rate limits, prices, cache) are stored in the run row
too but not hashed, so a resume may raise a timeout or lower the concurrency, and refuses only
when the conditions or the dataset version changed.
No secret is resolved here: `api_key_env` names are stored, never values.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlite_utils

import core
from core.config.schema import (
    SHARED_PARAMS,
    PromptConfig,
    WorkspaceConfig,
    model_overrides,
    model_params,
    model_stream,
)
from core.errors import ConfigError, NotFoundError, ResumeError, UsageError
from core.common.hashing import canonical_json, content_hash
from core.run.liveness import owner_alive, this_process
from core.run.history import Measured, measured_figures
from core.models.provider import import_seconds
from core.run.workers import auto_workers, provider_sets_pace
from core.records import RunRecord
from core.config.prompts import PromptError, render_messages
from core.datasets.versions import VersionHasher, snapshot
from store import baselines as store_baselines
from store import datasets as store_ds
from store import runs as store_runs
from store import trends as store_trends
from store.runs import PENDING_SOURCE
from store.db import write


@dataclass
class RunRequest:
    """What the user asked for. None means "the [run] default"; `resume` needs nothing else."""

    dataset: str | None = None
    version: int | None = None  # a past dataset version; None = a snapshot of the current content
    models: Sequence[str] = ()
    prompt: str | None = None
    concurrency: int | None = None
    workers: int | None = None  # processes sending the requests; None: [run] workers (a resume: the run's own)
    repeat: int | None = None
    use_cache: bool | None = None
    max_error_rate: float | None = None
    resume: str | None = None
    retry_errors: bool = False  # with `resume`: send the calls that ended in an error or were skipped again
    tags: dict[str, str] = field(default_factory=dict)  # KEY=VALUE labels stored on a new run


@dataclass
class RunPlan:
    run_id: str
    dataset: str
    dataset_version: int
    models: list[str]
    prompt_name: str
    repeat: int
    cases: list[dict[str, Any]]  # frozen case dicts (excluded ones left out)
    messages: list[list[dict[str, str]]]  # per case, same order
    todo: dict[str, list[tuple[int, int]]]  # model -> [(case index, repeat)] still missing
    total: int
    already_done: int
    resumed: bool
    concurrency: int
    use_cache: bool
    max_error_rate: float
    cost_sources: dict[str, str] = field(default_factory=dict)
    workers: int = 1  # processes sending the requests (1: this one)
    reopened: int = 0  # a resume's failed calls sent again (`RunRequest.retry_errors`)


def conditions(cfg: WorkspaceConfig, models: Sequence[str], prompt_name: str, repeat: int) -> dict[str, Any]:
    """The hashed part of a run's config."""
    prompt = cfg.prompt(prompt_name)
    cond: dict[str, Any] = {
        # `conversation` only when on: runs from before it keep their hash (resumable, same series).
        "prompt": {"name": prompt_name, **prompt.model_dump(mode="json", exclude=set() if prompt.conversation
                                                              else {"conversation"})},
        "shared": {p: getattr(cfg.run, p) for p in SHARED_PARAMS},
        "models": {
            name: {
                "model": cfg.models[name].model,
                "api_base": cfg.models[name].api_base,
                "params": model_params(cfg.models[name], cfg.run),
                "overrides": model_overrides(cfg.models[name], cfg.run),
            }
            for name in models
        },
        "repeat": repeat,
    }
    streams = {name: model_stream(cfg.models[name], cfg.run) for name in models}
    if cfg.run.stream or any(streams.values()):
        cond["shared"]["stream"] = cfg.run.stream
        for name in models:
            cond["models"][name]["stream"] = streams[name]
    return cond


def _operational(cfg: WorkspaceConfig, models: Sequence[str], concurrency: int, use_cache: bool,
                 max_error_rate: float, workers: int) -> dict[str, Any]:
    hashed = set(SHARED_PARAMS) | {"prompt", "repeat", "allow_overrides", "stream"}
    run = cfg.run.model_dump(mode="json", exclude=hashed)
    run.update(concurrency=concurrency, cache=use_cache, max_error_rate=max_error_rate, workers=workers)
    per_model = {
        name: cfg.models[name].model_dump(
            mode="json", include={"api_key_env", "timeout_s", "max_concurrency", "rpm", "tpm",
                                  "input_price_per_1m", "output_price_per_1m"})
        for name in models
    }
    return {"run": run, "models": per_model}


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            out += _diff(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else str(key))
        return out
    return [] if canonical_json(old) == canonical_json(new) else [prefix or "(all)"]


def _verified_cases(db: sqlite_utils.Database, version_id: int) -> tuple[str, list[dict[str, Any]]]:
    """(content hash recomputed from the stored blobs by the rule in core.datasets.versions, the version's
    case dicts): one read of the version both checks it and loads what the run needs."""
    overall = VersionHasher()
    cases = []
    for case_id, blob_hash, data in store_runs.version_entries(db, version_id):
        if hashlib.sha256(data.encode("utf-8")).hexdigest() != blob_hash:
            return "corrupt:" + case_id, []
        overall.add(case_id, blob_hash)
        cases.append(json.loads(data))
    return overall.hexdigest(), cases


def check_models(cfg: WorkspaceConfig, models: Sequence[str], config_file: str) -> None:
    if not models:
        raise UsageError("no models given (use --models a,b,c with names from [models.*])")
    seen = set()
    for name in models:
        if name not in cfg.models:
            known = f"configured: {', '.join(sorted(cfg.models))}" if cfg.models else "no [models.*] configured"
            raise ConfigError(f"unknown model '{name}' ({known})", file=config_file)
        if name in seen:
            raise UsageError(f"model '{name}' is listed twice")
        seen.add(name)
        env = cfg.models[name].api_key_env
        if env and not os.environ.get(env):
            raise ConfigError(f"environment variable {env} is not set", file=config_file,
                              key=f"models.{name}.api_key_env")


def _render_all(prompt: PromptConfig, prompt_name: str, cases: list[dict[str, Any]],
                config_file: str) -> list[list[dict[str, str]]]:
    try:
        return [render_messages(prompt, case) for case in cases]
    except PromptError as exc:
        raise PromptError(f"prompt '{prompt_name}': {exc.message}", file=config_file) from None


def _cost_sources(cfg: WorkspaceConfig, models: Sequence[str], priced_later: Collection[str]) -> dict[str, str]:
    from core.models.prices import prices_for

    return {name: PENDING_SOURCE if name in priced_later else prices_for(cfg.models[name])[0] for name in models}


def _litellm_version() -> str | None:
    try:
        return importlib.metadata.version("litellm")
    except importlib.metadata.PackageNotFoundError:
        return None


def _todo(models: Sequence[str], cases: list[dict[str, Any]], repeat: int,
          done: set[tuple[str, str, int]]) -> dict[str, list[tuple[int, int]]]:
    return {
        m: [(i, r) for i, case in enumerate(cases) for r in range(repeat) if (case["id"], m, r) not in done]
        for m in models
    }


def dataset_version(db: sqlite_utils.Database, cfg: WorkspaceConfig, dataset: str, version: int | None,
                    reason: str) -> tuple[int, dict[str, Any]]:
    """(dataset id, version row) a run measures: the asked-for past version, else a snapshot of the
    current content (taken with `reason`; identical content reuses its version)."""
    try:
        ds_id = store_ds.dataset_id(db, dataset)
    except store_ds.DatasetMissing:
        raise NotFoundError(f"no dataset named '{dataset}'") from None
    if version is None:
        row, _ = snapshot(db, ds_id, reason, required=cfg.labeling.required_labels)
        return ds_id, row
    row = store_ds.get_version(db, ds_id, version)  # versions are immutable: exactly those cases
    if row is None:
        raise NotFoundError(f"dataset '{dataset}' has no version {version} (see `assay datasets versions`)")
    return ds_id, row


def _planned_cases(db: sqlite_utils.Database, dataset: str, version: int | None) -> int:
    """The cases a new run will take, counted without snapshotting (0 for an unknown dataset or
    version: planning reports that)."""
    try:
        ds_id = store_ds.dataset_id(db, dataset)
    except store_ds.DatasetMissing:
        return 0
    if version is None:
        return store_ds.count_cases(db, ds_id, store_ds.CaseFilter(include_excluded=False))
    row = store_ds.get_version(db, ds_id, version)
    return row["n_cases"] if row is not None else 0


def workers_for(db: sqlite_utils.Database, cfg: WorkspaceConfig, req: RunRequest,
                measured: Mapping[str, Measured] | None = None) -> int:
    """The worker processes a run uses, decided before planning (they start first, so their
    litellm import overlaps it): `req.workers`, else a resumed run's own count (1 for a run from
    before workers), else `[run] workers`, "auto" judged on the new run's calls and concurrency
    (the bar higher in a process that has imported litellm already: its own loop starts at once)
    and on how fast its models answered in earlier runs of the dataset (when every one was
    measured; `measured`: those figures, when the caller has read them already)."""
    if req.workers is not None:
        return req.workers
    if req.resume:
        run = store_runs.get_run(db, req.resume)
        stored = (run or {}).get("config", {}).get("operational", {}).get("run", {}).get("workers")
        return stored if isinstance(stored, int) else 1
    if cfg.run.workers != "auto":
        return cfg.run.workers
    called = [m for m in req.models if m in cfg.models and cfg.models[m].logged_key is None]
    if not req.dataset or not called:
        return 1
    calls = _planned_cases(db, req.dataset, req.version) * len(called) * (req.repeat or cfg.run.repeat)
    concurrency = req.concurrency or cfg.run.concurrency
    workers = auto_workers(calls, concurrency, warm=import_seconds() is not None)
    if workers == 1:
        return 1  # decided without reading the history
    if measured is None:
        measured = measured_figures(db, req.dataset, called)
    latencies = [measured[m].latency_p50_ms for m in called if m in measured and measured[m].latency_p50_ms]
    if len(latencies) == len(set(called)) and provider_sets_pace(concurrency, min(latencies)):
        return 1
    return workers


def plan_run(db: sqlite_utils.Database, cfg: WorkspaceConfig, req: RunRequest, *,
             config_file: str = "assay.toml", priced_later: Collection[str] = ()) -> RunPlan:
    """Validate, snapshot the dataset, render every prompt, and create (or reopen) the run row.
    `req.workers` None is decided here as `workers_for` decides it. `priced_later` names models a
    worker process is still pricing from litellm's map (recorded as store.runs.PENDING_SOURCE until
    the engine settles them); the others are priced here."""
    if req.workers is None:
        req = replace(req, workers=workers_for(db, cfg, req))
    if req.resume:
        return _plan_resume(db, cfg, req, config_file, priced_later)
    if not req.dataset:
        raise UsageError("no dataset given (use --dataset NAME)")
    models = list(req.models)
    check_models(cfg, models, config_file)
    prompt_name = req.prompt or cfg.run.prompt
    prompt = cfg.prompt(prompt_name)  # unknown prompt -> ConfigError
    repeat = req.repeat or cfg.run.repeat
    if repeat < 1:
        raise UsageError("--repeat must be at least 1")
    ds_id, version = dataset_version(db, cfg, req.dataset, req.version, "run")
    cases = [c for c in store_ds.iter_version_cases(db, version["id"]) if not c.get("excluded")]
    if not cases:
        raise UsageError(f"dataset '{req.dataset}' has no cases to run (all excluded or empty)")
    messages = _render_all(prompt, prompt_name, cases, config_file)

    concurrency = req.concurrency or cfg.run.concurrency
    use_cache = cfg.run.cache if req.use_cache is None else req.use_cache
    max_error_rate = cfg.run.max_error_rate if req.max_error_rate is None else req.max_error_rate
    cond = conditions(cfg, models, prompt_name, repeat)
    sources = _cost_sources(cfg, models, priced_later)
    with write(db):
        run_id = store_runs.new_run_id(db)
        prompt_id = store_runs.upsert_prompt(
            db, name=prompt_name, content_hash=content_hash(prompt.model_dump(mode="json")),
            system=prompt.system, template=prompt.template,
            per_task={k: v.model_dump(mode="json") for k, v in prompt.tasks.items()},
        )
        store_runs.create_run(db, RunRecord(
            id=run_id, dataset_id=ds_id, dataset_version_id=version["id"],
            dataset_hash=version["content_hash"], prompt_id=prompt_id, prompt_name=prompt_name,
            config={
                "conditions": cond,
                "operational": _operational(cfg, models, concurrency, use_cache, max_error_rate, req.workers),
                "scoring": {"tasks": {k: v.model_dump(mode="json") for k, v in cfg.tasks.items()},
                            "scorers": cfg.scorers, "judge": cfg.judge.model_dump(mode="json")},
                "cost_source": sources,
            },
            config_hash=content_hash(cond), models=list(models), repeats=repeat,
            app_version=core.__version__, litellm_version=_litellm_version(),
            cost_source=canonical_json(sources), owner=this_process(),
        ).model_dump())
        store_trends.add_run_tags(db, run_id, dict(req.tags))
    return RunPlan(
        run_id=run_id, dataset=req.dataset, dataset_version=version["version"], models=models,
        prompt_name=prompt_name, repeat=repeat, cases=cases, messages=messages,
        todo=_todo(models, cases, repeat, set()), total=len(cases) * len(models) * repeat,
        already_done=0, resumed=False, concurrency=concurrency, use_cache=use_cache,
        max_error_rate=max_error_rate, cost_sources=sources, workers=req.workers,
    )


def _plan_resume(db: sqlite_utils.Database, cfg: WorkspaceConfig, req: RunRequest, config_file: str,
                 priced_later: Collection[str]) -> RunPlan:
    run = store_runs.get_run(db, req.resume or "")
    if run is None:
        raise NotFoundError(f"no run with id '{req.resume}'")
    run_id, models, repeat, prompt_name = run["id"], run["models"], run["repeats"], run["prompt_name"]
    if run["status"] == "running" and run.get("owner") != this_process() and owner_alive(run.get("owner")):
        raise ResumeError(f"cannot resume {run_id}: it is still running in process {run['owner']}; "
                          "stop that process first (Ctrl+C) or wait for it to finish")
    for name in models:
        if name not in cfg.models:
            raise ResumeError(f"cannot resume {run_id}: model '{name}' is no longer in {config_file}")
    if prompt_name != "default" and prompt_name not in cfg.prompts:
        raise ResumeError(f"cannot resume {run_id}: prompt '{prompt_name}' is no longer in {config_file}")
    cond = conditions(cfg, models, prompt_name, repeat)
    if content_hash(cond) != run["config_hash"]:
        old = run["config"].get("conditions", {})
        changed = _diff(old, cond)
        message = (f"cannot resume {run_id}: the run conditions in {config_file} changed since it started "
                   f"({', '.join(changed[:6]) or 'config hash differs'}); start a new run instead")
        if any(key == "stream" or key.endswith(".stream") for key in changed):
            was = bool((old.get("shared") or {}).get("stream"))
            message += (f" (it ran with [run] stream = {'true' if was else 'false'}; "
                        f"set that again or pass {'--stream' if was else '--no-stream'} to resume)")
        raise ResumeError(message)
    version_hash, version_cases = _verified_cases(db, run["dataset_version_id"])
    if version_hash != run["dataset_hash"]:
        raise ResumeError(f"cannot resume {run_id}: its dataset version no longer matches the hash it ran on")
    check_models(cfg, models, config_file)
    cases = [c for c in version_cases if not c.get("excluded")]
    messages = _render_all(cfg.prompt(prompt_name), prompt_name, cases, config_file)
    reopened = _reopen_failed(db, run) if req.retry_errors else 0
    done = store_runs.done_keys(db, run_id)
    op = run["config"].get("operational", {}).get("run", {})
    # Operational choices made at start (flags included) carry over unless given again.
    concurrency = req.concurrency or op.get("concurrency") or cfg.run.concurrency
    use_cache = op.get("cache", cfg.run.cache) if req.use_cache is None else req.use_cache
    max_error_rate = (op.get("max_error_rate", cfg.run.max_error_rate) if req.max_error_rate is None
                      else req.max_error_rate)
    if not reopened:
        store_runs.set_status(db, run_id, "running", owner=this_process())
    sources = _cost_sources(cfg, models, priced_later)
    store_runs.settle_cost_sources(db, run_id, sources)  # what an earlier start left pending, if priced now
    todo = _todo(models, cases, repeat, done)
    total = len(cases) * len(models) * repeat
    return RunPlan(
        run_id=run_id, dataset=run["dataset"], dataset_version=run["dataset_version"], models=list(models), prompt_name=prompt_name,
        repeat=repeat, cases=cases, messages=messages, todo=todo, total=total,
        already_done=total - sum(len(v) for v in todo.values()), resumed=True, concurrency=concurrency,
        use_cache=use_cache, max_error_rate=max_error_rate, cost_sources=sources,
        workers=req.workers or 1, reopened=reopened,
    )


def _reopen_failed(db: sqlite_utils.Database, run: dict[str, Any]) -> int:
    """Delete the run's error and skipped rows (the resume then sends those calls again); refused
    for a pinned baseline, whose figures are what candidates were compared with."""
    run_id = run["id"]
    pinned = [b for b in store_baselines.in_force(db) if b.run_id == run_id]
    if pinned:
        b = pinned[0]
        scope = f"model '{b.model}' on" if b.model else "every model of"
        raise ResumeError(f"cannot retry the failed calls of {run_id}: it is the pinned baseline for {scope} dataset "
                          f"'{b.dataset}', so its figures must stay what candidates were compared with; run the "
                          "dataset again, or clear the baseline (assay baseline clear) first")
    return store_runs.reopen_failed(db, run_id, this_process())
