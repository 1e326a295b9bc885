"""What the label log says about datasets, for the Datasets screen, `assay datasets` and where the
app opens: ground truth decided by labels, disagreements, per-annotator counts, agreement, and
the first dataset that still has something to label."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import sqlite_utils

from core.config.schema import WorkspaceConfig
from core.datasets.ground_truth import case_states, decided_values, derived_labels
from core.labeling.agreement import AgreementReport, agreement_report
from core.labeling.queue import has_open_case
from store import datasets as store_ds
from store.labels import datasets_with_unlabeled_cases, iter_events


@dataclass(frozen=True)
class LabelOverview:
    """One dataset's label log, read once: everything the Datasets screen's panels show."""

    derived: dict[str, Any]  # case_id -> ground truth the log decides
    needs_adjudication: list[str]  # case ids flagged or in disagreement, sorted
    annotators: dict[str, int]  # annotator -> number of current labels, by name
    agreement: AgreementReport


def label_overview(db: sqlite_utils.Database, dataset_id: int, required: int) -> LabelOverview:
    """What the label log says about one dataset, from one read of it."""
    states = case_states(iter_events(db, dataset_id))
    per_annotator: dict[str, int] = {}
    for state in states.values():
        for a in state.labels:
            per_annotator[a] = per_annotator.get(a, 0) + 1
    return LabelOverview(
        derived=decided_values(states, required),
        needs_adjudication=sorted(cid for cid, s in states.items() if s.needs_adjudication),
        annotators=dict(sorted(per_annotator.items())),
        agreement=agreement_report({cid: s.labels for cid, s in states.items() if s.labels}),
    )


@dataclass(frozen=True)
class TaskCounts:
    cases: int
    labeled: int
    unlabeled: int


@dataclass(frozen=True)
class DatasetSummary:
    """A dataset's counts, with ground truth from the label log counted as labeled.
    Field order is the key order of `assay datasets --json`."""

    id: int
    name: str
    description: str | None
    created_at: str
    cases: int
    labeled: int
    unlabeled: int
    task_types: dict[str, TaskCounts]  # by task type name
    versions: int
    imported_labeled: int  # cases imported with an expected output

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summaries_with_labels(db: sqlite_utils.Database, required: int) -> list[DatasetSummary]:
    """store.datasets.dataset_summaries with ground truth from the label log counted as labeled
    (overall and per task type); `imported_labeled` keeps the imported count."""
    out = []
    for s in store_ds.dataset_summaries(db):
        summary = DatasetSummary(
            id=s["id"], name=s["name"], description=s["description"], created_at=s["created_at"],
            cases=s["cases"], labeled=s["labeled"], unlabeled=s["unlabeled"],
            task_types={task: TaskCounts(**counts) for task, counts in s["task_types"].items()},
            versions=s["versions"], imported_labeled=s["labeled"],
        )
        decided = frozenset(derived_labels(db, summary.id, required=required))
        if decided:
            labeled = store_ds.count_cases(db, summary.id, store_ds.CaseFilter(labeled=True, labeled_ids=decided))
            per_task = {}
            for task, counts in summary.task_types.items():
                n = store_ds.count_cases(db, summary.id, store_ds.CaseFilter(task_type=task, labeled=True,
                                                                               labeled_ids=decided))
                per_task[task] = TaskCounts(counts.cases, n, counts.cases - n)
            summary = replace(summary, labeled=labeled, unlabeled=summary.cases - labeled, task_types=per_task)
        out.append(summary)
    return out


@dataclass(frozen=True)
class DatasetRef:
    id: int
    name: str


def first_dataset_to_label(db: sqlite_utils.Database, cfg: WorkspaceConfig, annotator: str) -> DatasetRef | None:
    """The first dataset (by name) with a case this annotator has yet to decide, or None: where the
    app opens, so the first press of Label lands on work rather than on "Nothing to label"."""
    required = cfg.labeling.required_labels
    for ds_id, name in datasets_with_unlabeled_cases(db):
        if has_open_case(db, ds_id, annotator, required, case_states(iter_events(db, ds_id))):
            return DatasetRef(ds_id, name)
    return None
