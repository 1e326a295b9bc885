"""Queue judged outputs for the experts to grade: `assay judge-sample RUN`.

Outputs the judge graded in a run are sampled into the grades dataset `<dataset>-judge-grades`
(created on first use, appended to after), one case per output, of task type "judge-grade"
(kind pass_fail, added to assay.toml when missing): the Label screen grades it with p / x. A
case's input shows the rubric, the original case's input and the output to grade; neither the
judge's verdict nor the model's name is shown, so the expert grades blind to both. Its metadata
points at what it grades (`judge_sample`: dataset, case id, output sha256, run and result), which
is how core.labeling.calibration matches the grade to the judge's verdict.

The sample is stratified by the judge's verdict: half judged pass, half judged fail (the other
stratum fills in when one runs short), so the disagreements that decide kappa turn up in a small
sample even when the judge passes nearly everything. Sampling is seeded (same seed, same run,
same grades dataset: same sample); outputs already in the grades dataset are never queued twice.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from core.common.hashing import content_hash
from core.config.schema import WorkspaceConfig
from core.config.writer import ConfigDocument
from core.datasets.importing import check_name
from core.datasets.versions import snapshot
from core.errors import ConfigError, UsageError
from core.labeling.calibration import (GRADE_TASK, SAMPLE_KEY, JudgedOutput, distinct_outputs, grades_dataset_name,
                                       judge_rows, output_sha)
from scorers.llm_rubric import instructions_hash
from store import datasets as store_ds
from store import runs as store_runs
from store.db import write

GRADE_GUIDELINES = ("Grade the OUTPUT against the RUBRIC, for the case input shown: p = pass (the output "
                    "satisfies the rubric), x = fail. Flag the case when the rubric cannot decide it.")


@dataclass(frozen=True)
class SampleResult:
    dataset: str  # the grades dataset
    created: bool  # the grades dataset was created now
    config_updated: bool  # [tasks.judge-grade] was added to assay.toml
    added: int
    added_judged_pass: int
    added_judged_fail: int
    ungraded_left: int  # judged outputs of the run still not queued after this sample
    already_queued: int  # judged outputs of the run already in the grades dataset


def ensure_grade_task(cfg: WorkspaceConfig, config_path: Path) -> bool:
    """Make sure [tasks.judge-grade] is a pass_fail task; True when it was added to assay.toml."""
    task = cfg.tasks.get(GRADE_TASK)
    if task is not None:
        if task.kind != "pass_fail":
            raise ConfigError(f'must be kind = "pass_fail" to grade judged outputs (is {task.kind!r})',
                              file=str(config_path), key=f"tasks.{GRADE_TASK}")
        return False
    doc = ConfigDocument.read(config_path)
    doc.set_value("tasks", GRADE_TASK, {"kind": "pass_fail", "guidelines": GRADE_GUIDELINES})
    doc.save()
    return True


def stratified(verdicts: list[JudgedOutput], size: int, seed: int) -> list[JudgedOutput]:
    """Up to `size` verdicts, half judged pass and half judged fail where both strata have enough,
    in a seeded random order (so the verdicts do not come in blocks)."""
    rng = random.Random(seed)
    passed = [v for v in verdicts if v.passed]
    failed = [v for v in verdicts if not v.passed]
    rng.shuffle(passed)
    rng.shuffle(failed)
    n_pass = min(len(passed), (size + 1) // 2)
    n_fail = min(len(failed), size - n_pass)
    n_pass = min(len(passed), size - n_fail)
    chosen = passed[:n_pass] + failed[:n_fail]
    rng.shuffle(chosen)
    return chosen


def _rubric(cfg: WorkspaceConfig, case: dict[str, Any], prompt_hash: str) -> str | None:
    """The rubric text whose judge instructions hash is `prompt_hash`: from the task type's
    [scorers.*] table or the case's own assertions. None when it changed since the run."""
    spec = cfg.scorers.get(case.get("task_type") or "generation") or {}
    items: list[Any] = [spec, *(spec.get("assert") or [])]
    items += list((case.get("metadata") or {}).get("assert") or [])
    for item in items:
        if isinstance(item, dict) and item.get("type") == "llm-rubric" and isinstance(item.get("value"), str):
            if instructions_hash(item["value"]) == prompt_hash:
                return item["value"]
    return None


def grade_input(case: dict[str, Any], output: str, rubric: str | None) -> str:
    """What the expert reads on the Label screen."""
    return "\n".join([
        "Grade the OUTPUT below against the RUBRIC: p = pass, x = fail.",
        "",
        "RUBRIC: " + (rubric if rubric is not None else "(not found in assay.toml: the rubric changed since the run)"),
        "",
        f"CASE {case['id']} (task type {case.get('task_type') or 'generation'}), its input:",
        case.get("input_text") or "",
        "",
        "OUTPUT to grade:",
        output,
    ])


def _queued(db: sqlite_utils.Database, ds_id: int | None) -> set[tuple[str, str]]:
    if ds_id is None:
        return set()
    out = set()
    for case in store_ds.iter_cases(db, ds_id):
        ref = case.metadata.get(SAMPLE_KEY)
        if isinstance(ref, dict):
            out.add((ref.get("case_id"), ref.get("output_sha256")))
    return out


def _grade_cases(chosen: list[JudgedOutput], dataset: str, run_id: str, cfg: WorkspaceConfig,
                 cases: dict[str, dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for v in chosen:
        case = cases[v.case_id]
        sha = output_sha(v.output)
        yield {
            "id": "jg-" + content_hash([dataset, v.case_id, sha])[:16],
            "input_text": grade_input(case, v.output, _rubric(cfg, case, v.key.judge_prompt_hash)),
            "task_type": GRADE_TASK,
            "metadata": {SAMPLE_KEY: {"dataset": dataset, "case_id": v.case_id, "output_sha256": sha,
                                      "run_id": run_id, "result_id": v.result_id}},
        }


def sample_for_grading(db: sqlite_utils.Database, cfg: WorkspaceConfig, config_path: Path, run_id: str, *,
                       size: int = 40, seed: int = 0, into: str | None = None) -> SampleResult:
    """Queue up to `size` of the run's judged, not yet queued outputs in the grades dataset."""
    if size < 1:
        raise UsageError("--size must be at least 1")
    verdicts = judge_rows(db, run_id).verdicts
    run = store_runs.get_run(db, run_id)
    assert run is not None  # judge_rows refused an unknown run
    if not verdicts:
        raise UsageError(f"run {run_id} has no judge verdicts to grade (no llm-rubric scorer graded an output)")
    name = check_name(into or grades_dataset_name(run["dataset"]))
    config_updated = ensure_grade_task(cfg, config_path)
    cases = {c["id"]: c for c in store_ds.iter_version_cases(db, run["dataset_version_id"])}
    with write(db):
        try:
            ds_id: int | None = store_ds.dataset_id(db, name)
        except store_ds.DatasetMissing:
            ds_id = None
        queued = _queued(db, ds_id)
        outputs = distinct_outputs(verdicts)
        open_ = [v for v in outputs if v.output_key not in queued]
        chosen = stratified(open_, size, seed)
        created = ds_id is None
        if chosen:
            if ds_id is None:
                ds_id = store_ds.create_dataset(db, name, f"expert grades of judged outputs of {run['dataset']}")
            store_ds.insert_cases(db, ds_id, _grade_cases(chosen, run["dataset"], run_id, cfg, cases),
                                  start_ord=store_ds.next_ord(db, ds_id))
            snapshot(db, ds_id, "judge-sample")
    return SampleResult(
        dataset=name, created=created and bool(chosen), config_updated=config_updated, added=len(chosen),
        added_judged_pass=sum(v.passed for v in chosen), added_judged_fail=sum(not v.passed for v in chosen),
        ungraded_left=len(open_) - len(chosen), already_queued=len(outputs) - len(open_),
    )
