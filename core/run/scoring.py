"""Applies the configured scorers to a run's results and stores the verdicts (append-only).

The runner calls `ScoringSession.score()` for every result as it arrives; `rescore()` (CLI
`assay score RUN_ID`) re-applies the current scorers to the stored outputs in a new round, old
rows kept.

Which scorers a result gets (one scores row each):
- the task type's scorer: `[scorers.<task_type>]` when configured, else the default (extraction,
  classification, or normalised exact match). Skipped for an unlabeled case when that scorer
  needs an expected output (assertion sets and rubrics do not);
- `case-assert`: the assertions a case carries in `metadata.assert` (+ `metadata.threshold`),
  e.g. from a promptfoo import. Dataset content is untrusted, so only the built-in assertion
  types are accepted there: never a Python scorer or a file path.
Results with status error or skipped are not scored.

Scorers run in daemon threads with a timeout (`timeout_s` per scorer; default 30 s, 600 s for
scorers that call the judge). A scorer that raises or times out is recorded as an error verdict
and the run goes on; a timed-out thread cannot be killed, it is abandoned (daemon threads do not
hold up exit). The exception: a scorer marked `inline` (pure, cost linear in the output: exact,
classification, extraction, assertion sets of plain checks) without its own `timeout_s` runs
on the loop thread for outputs up to INLINE_MAX_CHARS, as a thread per result costs ~30x the
scoring itself. The judge is injected into the pure scorers as a synchronous function that hands
the call back to the event loop, where a `core.models.client.ModelClient` makes it: same litellm path,
response cache and cost computation as the candidates.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from core.config.schema import WorkspaceConfig
from core.errors import ConfigError, NotFoundError
from core.records import ScoreRecord
from scorers.assertions import AssertionSet
from scorers.base import JudgeReply, ScoreContext, Scorer, ScorerConfigError, Verdict, combine, run_scorer
from scorers.extraction import ExtractionScorer
from scorers.registry import build_scorer, default_scorer
from store import scores as store_scores
from store.db import database_folder, write

DEFAULT_TIMEOUT_S = 30.0
JUDGE_TIMEOUT_S = 600.0
# Longest output an inline scorer scores on the loop thread; the JSON search's worst case (text
# full of unbalanced braces) is ~30 ms at this size, a typical output takes microseconds.
INLINE_MAX_CHARS = 8_000
CASE_ASSERT = "case-assert"

AsyncJudge = Callable[[str], Awaitable[JudgeReply]]


class JudgeCallFailed(Exception):
    """The judge model call ended in error or was skipped (message already redacted)."""


class ModelJudge:
    """The [judge] model behind a `ModelClient`: judge's own temperature and max_tokens, the
    workspace's response cache (`run.cache`), cost computed like a candidate's."""

    def __init__(self, db: sqlite_utils.Database, cfg: WorkspaceConfig):
        assert cfg.judge.model is not None
        self.db, self.cfg, self.name = db, cfg, cfg.judge.model
        self._client: Any = None

    def _make_client(self) -> Any:
        from core.models.client import ModelClient

        judge = self.cfg.judge
        model = self.cfg.models[self.name].model_copy(
            update={"temperature": judge.temperature, "max_tokens": judge.max_tokens})
        # The judge's own sampling settings must win over [run]'s shared ones.
        run = self.cfg.run.model_copy(update={"allow_overrides": ["temperature", "max_tokens"]})
        return ModelClient(self.name, model, run, self.db)

    async def __call__(self, prompt: str) -> JudgeReply:
        if self._client is None:  # created inside the loop that uses it
            self._client = self._make_client()
        out = await self._client.complete([{"role": "user", "content": prompt}], use_cache=self.cfg.run.cache)
        if out.status != "ok" or out.output is None:
            raise JudgeCallFailed(f"{out.status} {out.error_class or ''}: {out.error_message or 'no output'}".strip())
        return JudgeReply(text=out.output, model=self.name, temperature=self.cfg.judge.temperature,
                          cost_usd=out.cost_usd, cached=out.cached)


def _in_daemon_thread(fn: Callable[[], Verdict]) -> asyncio.Future[Verdict]:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Verdict] = loop.create_future()

    def settle(value: Any, exc: BaseException | None) -> None:
        if not fut.done():  # already cancelled by a timeout
            fut.set_exception(exc) if exc is not None else fut.set_result(value)

    def work() -> None:
        try:
            value, exc = fn(), None
        except BaseException as e:  # noqa: BLE001 - run_scorer catches Exception; this is the rest
            # SystemExit & co. from a user's scorer must not travel into the event loop as such.
            value, exc = None, RuntimeError(f"{type(e).__name__}: {e}")
        try:
            loop.call_soon_threadsafe(settle, value, exc)
        except RuntimeError:  # the loop has closed meanwhile: nobody is waiting any more
            pass

    threading.Thread(target=work, name="assay-scorer", daemon=True).start()
    return fut


class ScoringSession:
    """Scores results of one run in one round."""

    def __init__(self, db: sqlite_utils.Database, cfg: WorkspaceConfig, run_id: str, *, round: int = 1,
                 root: Path | None = None, judge: AsyncJudge | None = None,
                 transaction: Callable[[], AbstractContextManager[Any]] | None = None):
        """root: the workspace folder (custom scorer paths are relative to it); default: the folder
        of the database file. judge: replaces the [judge] model (tests). transaction: what the
        score rows are written in (default: a transaction of their own; a run's engine commits
        them with its results, `core.run.group_commit`)."""
        self.db, self.cfg, self.run_id, self.round = db, cfg, run_id, round
        self._transaction = transaction or (lambda: write(db))
        self.root = root or database_folder(db) or Path.cwd()
        # The config validates that [judge] model names a [models.*] entry.
        self._judge = judge or (ModelJudge(db, cfg) if cfg.judge.model else None)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: set[concurrent.futures.Future[Any]] = set()
        # Built up front so a bad [scorers.*] table fails before the first call, not mid-run.
        self._configured = configured_scorers(cfg, self.root, has_judge=self._judge is not None)
        self._defaults: dict[str, Scorer] = {}

    def task_scorer(self, task_type: str) -> Scorer:
        if task_type in self._configured:
            return self._configured[task_type]
        if task_type not in self._defaults:
            fields = _task_fields(self.cfg, task_type)
            self._defaults[task_type] = (ExtractionScorer(fields=fields) if task_type == "extraction" and fields
                                         else default_scorer(task_type))
        return self._defaults[task_type]

    # --- the judge bridge -------------------------------------------------------------------

    def _sync_judge(self, prompt: str) -> JudgeReply:
        """Called from a scorer thread: runs the async judge on the session's loop and waits."""
        assert self._loop is not None and self._judge is not None
        cf = asyncio.run_coroutine_threadsafe(self._judge(prompt), self._loop)
        self._pending.add(cf)
        try:
            return cf.result()
        finally:
            self._pending.discard(cf)

    # --- scoring ----------------------------------------------------------------------------

    def _plan(self, case: Mapping[str, Any]) -> list[Scorer | Verdict]:
        """The scorers for one case; a bad assertion list in the case becomes an error verdict."""
        plan: list[Scorer | Verdict] = []
        scorer = self.task_scorer(case.get("task_type") or "generation")
        if case.get("expected_output") is not None or not scorer.needs_expected:
            plan.append(scorer)
        meta = case.get("metadata") or {}
        if meta.get("assert") is not None:
            try:
                plan.append(AssertionSet(meta["assert"], meta.get("threshold"), name=CASE_ASSERT,
                                         key="metadata.assert"))
            except ScorerConfigError as exc:
                plan.append(Verdict.error(CASE_ASSERT, f"invalid assertions in the case: {exc}"))
        return plan

    async def _run(self, scorer: Scorer, output: str, case: Mapping[str, Any], ctx: ScoreContext) -> Verdict:
        if scorer.inline and scorer.timeout_s is None and len(output) <= INLINE_MAX_CHARS:
            return run_scorer(scorer, output, case, ctx)
        timeout = scorer.timeout_s or (JUDGE_TIMEOUT_S if scorer.uses_judge else DEFAULT_TIMEOUT_S)
        try:
            return await asyncio.wait_for(_in_daemon_thread(lambda: run_scorer(scorer, output, case, ctx)), timeout)
        except TimeoutError:
            return Verdict.error(scorer.name, f"scorer timed out after {timeout:g} s")
        except RuntimeError as exc:
            return Verdict.error(scorer.name, str(exc))

    async def verdicts(self, case: Mapping[str, Any], result: Mapping[str, Any]) -> list[Verdict]:
        """Score one result without storing anything ([] when it is not scorable)."""
        if result.get("status") != "ok":
            return []
        self._loop = asyncio.get_running_loop()
        output = result.get("output") or ""
        ctx = ScoreContext(
            latency_ms=result.get("latency_ms"), cost_usd=result.get("cost_usd"),
            valid_labels=tuple(self.cfg.valid_labels(case.get("task_type") or "generation")),
            judge=self._sync_judge if self._judge is not None else None,
        )
        return [item if isinstance(item, Verdict) else await self._run(item, output, case, ctx)
                for item in self._plan(case)]

    async def score(self, case: dict[str, Any], result: dict[str, Any]) -> dict[str, Any] | None:
        """case: the frozen case dict; result: the stored results row (with `id`).

        Returns the result's overall verdict {"status", "score", "passed", "scorers": [...]}, or
        None when nothing scores it (error/skipped result, unlabeled case without assertions)."""
        verdicts = await self.verdicts(case, result)
        if not verdicts:
            return None
        rows = [_row(v, result["id"], self.run_id, self.round) for v in verdicts]
        with self._transaction():
            store_scores.insert_scores(self.db, rows)
        overall = combine(verdicts)
        return {
            "status": overall.status, "score": overall.score, "passed": overall.passed,
            "scorer": ",".join(v.scorer for v in verdicts),
            "scorers": [{"scorer": v.scorer, "status": v.status, "score": v.score, "passed": v.passed,
                         **({"error": v.details.get("error")} if v.status == "error" else {})} for v in verdicts],
        }

    async def aclose(self) -> None:
        """Stop waiting for judge calls of abandoned (timed-out) scorers."""
        for cf in list(self._pending):
            cf.cancel()
        self._pending.clear()


def _task_fields(cfg: WorkspaceConfig, task_type: str) -> list[str]:
    task = cfg.tasks.get(task_type)
    return list(task.fields) if task else []


def configured_scorers(cfg: WorkspaceConfig, root: Path, *, has_judge: bool | None = None) -> dict[str, Scorer]:
    """Build every [scorers.<task_type>] table; ConfigError names the bad key. Call it before a
    run starts (`has_judge` defaults to whether [judge] names a model) so a bad table is reported
    before any model is called."""
    has_judge = bool(cfg.judge.model) if has_judge is None else has_judge
    out: dict[str, Scorer] = {}
    for task_type, table in cfg.scorers.items():
        spec = dict(table)
        if spec.get("type") == "extraction" and "fields" not in spec and _task_fields(cfg, task_type):
            spec["fields"] = _task_fields(cfg, task_type)
        try:
            scorer = build_scorer(spec, root=root)
        except ScorerConfigError as exc:
            raise ConfigError(str(exc), key=f"scorers.{task_type}") from None
        if scorer.uses_judge and not has_judge:
            raise ConfigError("an llm-rubric scorer needs a judge: set [judge] model", key=f"scorers.{task_type}")
        out[task_type] = scorer
    return out


def _row(v: Verdict, result_id: int, run_id: str, round: int) -> dict[str, Any]:
    """A scores row, validated as a ScoreRecord (score in [0, 1], known status) before it is stored."""
    j = v.judge
    return ScoreRecord(
        result_id=result_id, run_id=run_id, round=round, scorer=v.scorer, status=v.status,
        score=v.score, passed=v.passed, details=v.details,
        judge_model=j and j.model, judge_prompt_hash=j and j.prompt_hash,
        judge_temperature=j and j.temperature, judge_cost_usd=j and j.cost_usd,
    ).model_dump()


# --- re-scoring -------------------------------------------------------------------------------


async def arescore(db: sqlite_utils.Database, cfg: WorkspaceConfig, run_id: str, *, root: Path | None = None,
                   judge: AsyncJudge | None = None, concurrency: int | None = None) -> int:
    """Re-apply the current scorers to every ok result of a run, in a new round. Returns the round."""
    from store.datasets import iter_version_cases
    from store.runs import get_run

    run = get_run(db, run_id)
    if run is None:
        raise NotFoundError(f"no run '{run_id}'")
    rnd = store_scores.next_round(db, run_id)
    cases = {c["id"]: c for c in iter_version_cases(db, run["dataset_version_id"])}
    session = ScoringSession(db, cfg, run_id, round=rnd, root=root, judge=judge)
    results = iter(store_scores.iter_results(db, run_id, status="ok"))

    async def worker() -> None:
        # Results are pulled one at a time from a shared iterator: bounded concurrency for judge
        # calls without materialising every result.
        for result in results:
            case = cases.get(result["case_id"])
            if case is not None:
                await session.score(case, result)

    from core.models.provider import model_calls  # light: litellm itself is imported on a judge's first call

    async with model_calls():
        try:
            await asyncio.gather(*(worker() for _ in range(concurrency or cfg.run.concurrency)))
        finally:
            await session.aclose()
    return rnd


@dataclass(frozen=True)
class Rescored:
    """What a re-score stored: its round, the verdicts written in it and how many are scorer errors."""

    round: int
    verdicts: int
    scorer_errors: int


def rescore(db: sqlite_utils.Database, cfg: WorkspaceConfig, run_id: str, *, root: Path | None = None) -> Rescored:
    rnd = asyncio.run(arescore(db, cfg, run_id, root=root))
    verdicts, scorer_errors = store_scores.round_counts(db, run_id, rnd)
    return Rescored(round=rnd, verdicts=verdicts, scorer_errors=scorer_errors)
