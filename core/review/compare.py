"""The Review screen's comparison: figures per model x task type (the report's GroupFigures) and
paired verdicts, a run against its baseline (model by model) or two models of the run against
each other, with how many (case, repeat) pairs matched, were missing or are new.

Pairs are compared as `core.report.build.compare_pairs` does for `assay report`: on the pairs
both sides graded (pass or fail), exact McNemar p and a seeded paired bootstrap interval of the
score difference. The bootstrap is the slow part on a large run, so the screen asks for the
figures first (`comparison_table`) and the paired verdicts last (`paired_verdicts`).

Counting: `matched` = pairs both sides graded; `missing` = (case, repeat) the reference side (the
baseline, or model B) answered and the other side has no row for: never counted as a pass;
`new` = the reverse; `ungraded` = both have a row, at least one is not a pass/fail verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from core.config.schema import WorkspaceConfig
from core.report.build import build_report, compare_pairs
from core.report.render import saturation_note
from core.report.types import ALL, GroupFigures, PairwiseComparison
from core.review.cases import ReviewIndex, ScoredMark, marks_by_key


@dataclass(frozen=True, slots=True)
class FigureRow:
    model: str
    task_type: str  # a task type, or ALL
    figures: GroupFigures


@dataclass(frozen=True, slots=True)
class ComparisonTable:
    rows: list[FigureRow]  # per model (run order): ALL first, then each task type
    overrides: int  # verdicts that are human overrides
    saturation: str | None = None  # the report's CLIENT SATURATED note: whose wait the latencies carry


@dataclass(frozen=True, slots=True)
class PairedVerdict:
    """`a` (a model of the run) against `b` (a baseline's model, or another model of the run)."""

    a: str
    b: str
    against_baseline: bool
    comparison: PairwiseComparison
    matched: int
    missing: int
    new: int
    ungraded: int


def comparison_table(db: sqlite_utils.Database, run_id: str, cfg: WorkspaceConfig | None = None) -> ComparisonTable:
    """Figures per model over all task types and per task type (pairwise tests left out: see
    `paired_verdicts`)."""
    report = build_report(db, run_id, cfg, pairwise=False)
    rows = []
    for model in report.models:
        for task in (ALL, *report.task_types):
            figures = report.figures(model, task)
            if figures is not None and (task == ALL or len(report.task_types) > 1):
                rows.append(FigureRow(model, task, figures))
    return ComparisonTable(rows, report.overrides, saturation_note(report))


def pair_verdict(a: str, b: str, mine: dict[tuple[str, int], ScoredMark], theirs: dict[tuple[str, int], ScoredMark],
                 *, against_baseline: bool) -> PairedVerdict:
    """One paired verdict from two sides' marks keyed by (case_id, repeat)."""
    graded = ("pass", "fail")
    keys = sorted(k for k in mine.keys() & theirs.keys()
                  if mine[k].verdict in graded and theirs[k].verdict in graded)
    pairs = [((mine[k].verdict == "pass", mine[k].score or 0.0), (theirs[k].verdict == "pass", theirs[k].score or 0.0))
             for k in keys]
    return PairedVerdict(
        a=a, b=b, against_baseline=against_baseline, comparison=compare_pairs(a, b, pairs), matched=len(keys),
        missing=len(theirs.keys() - mine.keys()), new=len(mine.keys() - theirs.keys()),
        ungraded=len(mine.keys() & theirs.keys()) - len(keys))


def paired_verdicts(db: sqlite_utils.Database, index: ReviewIndex) -> list[PairedVerdict]:
    """With a baseline: each paired model of the run against its baseline counterpart. Without
    one: model A against model B."""
    marks = marks_by_key(db, index.run_id)
    if index.baseline_id is not None:
        before = marks_by_key(db, index.baseline_id)
        return [pair_verdict(mine, f"{theirs} (baseline)", marks.get(mine, {}), before.get(theirs, {}),
                             against_baseline=True) for mine, theirs in index.baseline_pairs]
    if index.a is None or index.b is None:
        return []
    return [pair_verdict(index.a, index.b, marks.get(index.a, {}), marks.get(index.b, {}), against_baseline=False)]
