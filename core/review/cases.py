"""The Review screen's case list: every (case, repeat) of a run classed by what happened, with counts,
filters and keyset pages.

`build_index` reads one row per result (a single SQL aggregation, `store.review.result_verdicts`)
and classes each (case, repeat) in memory, so a run of 10,000 cases x 4 models is classed in a
fraction of a second; pages and counts are then computed from the index without SQL, and only
the page's input previews (and a text search) go back to the database.

Classes (a row can have several; the counts count rows):
- all_pass / all_fail: every model of the run has this verdict (a model without a row for the
  case is "missing", so it is neither).
- disagree: among the models' pass/fail verdicts, at least one pass and one fail.
- a_only / b_only: the chosen model A passes and B does not (or the reverse).
- regressed / improved (with a baseline run on the same dataset): for a model paired with the
  baseline, the baseline passed and the run does not (a case missing from the run counts as not
  passing), or the baseline had an answer that did not pass and the run passes.
- missing: a model of the run (or the whole run) has no row for a (case, repeat) the baseline
  answered, or the other models answered. Never a pass.
- call_error (error or skipped call), scorer_error, unscored, overridden (a human verdict in force).

Models are paired with the baseline by name; when the two runs share no name and each has one
model, those two are paired (a model switch).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

import sqlite_utils

from core.errors import NotFoundError, UsageError
from core.report.types import Verdict
from store import review as store_review
from store import runs as store_runs

CaseClass = Literal["all_pass", "all_fail", "disagree", "a_only", "b_only", "regressed", "improved", "missing",
                    "call_error", "scorer_error", "unscored", "overridden"]
# Display order, and what each class is called on screen.
CLASSES: tuple[CaseClass, ...] = ("all_pass", "all_fail", "disagree", "a_only", "b_only", "regressed", "improved",
                                  "missing", "call_error", "scorer_error", "unscored", "overridden")
CLASS_TITLES: dict[CaseClass, str] = {
    "all_pass": "all pass", "all_fail": "all fail", "disagree": "disagree", "a_only": "A only", "b_only": "B only",
    "regressed": "regressed", "improved": "improved", "missing": "missing", "call_error": "call error",
    "scorer_error": "scorer error", "unscored": "unscored", "overridden": "overridden",
}
Mark = Verdict | Literal["missing"]
# Sort key of a row: (0 = a case of the run's dataset version, 1 = only in the baseline's; ord; repeat).
RowKey = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class ModelMark:
    """One model's verdict on a (case, repeat); `overridden`: it is a human's."""

    verdict: Mark
    overridden: bool = False


@dataclass(frozen=True, slots=True)
class ScoredMark:
    """A verdict with its score (1.0 / 0.0 under a human override) and result, for comparisons."""

    verdict: Mark
    score: float | None
    overridden: bool
    result_id: int


MISSING = ModelMark("missing")
# store.review's verdict codes, as marks (shared objects: a large run makes 40,000 of them).
_MARKS: dict[str, ModelMark] = {
    "p": ModelMark("pass"), "f": ModelMark("fail"), "e": ModelMark("scorer_error"), "u": ModelMark("unscored"),
    "error": ModelMark("error"), "skipped": ModelMark("skipped"),
    "P": ModelMark("pass", True), "F": ModelMark("fail", True),
}


@dataclass(frozen=True, slots=True)
class CaseEntry:
    """One (case, repeat) of the list."""

    key: RowKey
    case_id: str
    repeat: int
    task_type: str
    difficulty: str | None
    marks: tuple[ModelMark, ...]  # per model of the run, in `ReviewIndex.models` order
    baseline: tuple[ModelMark, ...] | None  # per `ReviewIndex.baseline_pairs`, None without a baseline
    classes: frozenset[CaseClass]


@dataclass(frozen=True, slots=True)
class ReviewIndex:
    """A run (and optionally its baseline) classed case by case. `entries` are in case order."""

    run_id: str
    dataset: str
    dataset_id: int
    version_id: int
    models: tuple[str, ...]
    a: str | None
    b: str | None
    baseline_id: str | None
    baseline_version_id: int | None
    baseline_pairs: tuple[tuple[str, str], ...]  # (run model, baseline model)
    entries: tuple[CaseEntry, ...]
    task_types: tuple[str, ...]
    difficulties: tuple[str, ...]
    _keys: list[RowKey] = field(default_factory=list, repr=False, compare=False)

    def position(self, case_id: str, repeat: int | None = None) -> int | None:
        """Index in `entries` of a case (its first repeat unless one is given); None if absent."""
        return next((i for i, e in enumerate(self.entries)
                     if e.case_id == case_id and (repeat is None or e.repeat == repeat)), None)


@dataclass(frozen=True, slots=True)
class CaseQuery:
    """What the list shows. `text_ids` is the answer of `search_ids` for the search text (None = no search)."""

    cls: CaseClass | None = None
    task_type: str | None = None
    difficulty: str | None = None
    text_ids: frozenset[str] | None = None

    def keeps(self, e: CaseEntry, *, with_class: bool = True) -> bool:
        return ((not with_class or self.cls is None or self.cls in e.classes)
                and (self.task_type is None or e.task_type == self.task_type)
                and (self.difficulty is None or e.difficulty == self.difficulty)
                and (self.text_ids is None or e.case_id in self.text_ids))


@dataclass(frozen=True, slots=True)
class ReviewRow:
    entry: CaseEntry
    preview: str  # the start of the case input (untrusted)


@dataclass(frozen=True, slots=True)
class ReviewPage:
    rows: list[ReviewRow]
    has_prev: bool
    has_next: bool
    total: int  # rows matching the query
    first: int  # position of the first row among them (0-based)


# --- building the index -------------------------------------------------------------------------


def mark_of(row: store_review.VerdictRow) -> ScoredMark:
    mark = _MARKS[row.code]
    score = (1.0 if mark.verdict == "pass" else 0.0) if mark.overridden else row.score
    return ScoredMark(mark.verdict, score if mark.verdict in ("pass", "fail") else None, mark.overridden,
                      row.result_id)


def marks_by_key(db: sqlite_utils.Database, run_id: str) -> dict[str, dict[tuple[str, int], ScoredMark]]:
    """model -> (case_id, repeat) -> its verdict and score, for every result of a run."""
    out: dict[str, dict[tuple[str, int], ScoredMark]] = defaultdict(dict)
    for row in store_review.result_verdicts(db, run_id):
        out[row.model][(row.case_id, row.repeat)] = mark_of(row)
    return out


def _codes(db: sqlite_utils.Database, run_id: str) -> dict[tuple[str, int], dict[str, str]]:
    return {(cid, repeat): codes for cid, repeat, codes in store_review.case_verdict_codes(db, run_id)}


def _run(db: sqlite_utils.Database, run_id: str) -> dict:
    run = store_runs.get_run(db, run_id)
    if run is None:
        raise NotFoundError(f"no run '{run_id}'")
    return run


def pair_with_baseline(models: Iterable[str], baseline_models: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """(run model, baseline model) pairs: by name, or the single models of both when no name is shared."""
    mine, theirs = list(models), list(baseline_models)
    shared = tuple((m, m) for m in mine if m in theirs)
    if not shared and len(mine) == 1 and len(theirs) == 1:
        return ((mine[0], theirs[0]),)
    return shared


def classify(marks: tuple[ModelMark, ...], models: tuple[str, ...], a: str | None, b: str | None,
             baseline: tuple[ModelMark, ...] | None, pairs: tuple[tuple[str, str], ...]) -> frozenset[CaseClass]:
    """The classes of one (case, repeat) (see the module docstring)."""
    verdicts = [m.verdict for m in marks]
    out: set[CaseClass] = set()
    if verdicts and all(v == "pass" for v in verdicts):
        out.add("all_pass")
    if verdicts and all(v == "fail" for v in verdicts):
        out.add("all_fail")
    if "pass" in verdicts and "fail" in verdicts:
        out.add("disagree")
    by_model = dict(zip(models, marks))
    if a is not None and b is not None and a in by_model and b in by_model:
        pa, pb = by_model[a].verdict == "pass", by_model[b].verdict == "pass"
        if pa and not pb:
            out.add("a_only")
        if pb and not pa:
            out.add("b_only")
    if "missing" in verdicts:
        out.add("missing")
    if "error" in verdicts or "skipped" in verdicts:
        out.add("call_error")
    if "scorer_error" in verdicts:
        out.add("scorer_error")
    if "unscored" in verdicts:
        out.add("unscored")
    if any(m.overridden for m in marks):
        out.add("overridden")
    if baseline is not None:
        for (mine, _), before in zip(pairs, baseline):
            now = by_model.get(mine, MISSING)
            if before.verdict == "pass" and now.verdict != "pass":
                out.add("regressed")
            if before.verdict not in ("pass", "missing") and now.verdict == "pass":
                out.add("improved")
    return frozenset(out)


def _classes(memo: dict[tuple, frozenset[CaseClass]], marks: tuple[ModelMark, ...], models: tuple[str, ...],
             a: str | None, b: str | None, baseline: tuple[ModelMark, ...] | None,
             pairs: tuple[tuple[str, str], ...]) -> frozenset[CaseClass]:
    key = (marks, baseline)
    found = memo.get(key)
    if found is None:
        found = memo[key] = classify(marks, models, a, b, baseline, pairs)
    return found


def build_index(db: sqlite_utils.Database, run_id: str, *, baseline: str | None = None,
                a: str | None = None, b: str | None = None) -> ReviewIndex:
    """Class every (case, repeat) of `run_id` (and of `baseline`, a run on the same dataset).
    A and B default to the run's first two models."""
    run = _run(db, run_id)
    models = tuple(run["models"])
    codes = _codes(db, run_id)
    for name in (a, b):
        if name is not None and name not in models:
            raise UsageError(f"model '{name}' is not in run {run_id}")
    a = a if a is not None else (models[0] if models else None)
    b = b if b is not None else next((m for m in models if m != a), None)

    facts = {cid: (0, ord_, task, diff) for cid, ord_, task, diff in store_review.version_case_facts(
        db, run["dataset_version_id"])}
    keys = set(codes)
    base_codes: dict[tuple[str, int], dict[str, str]] = {}
    pairs: tuple[tuple[str, str], ...] = ()
    base_version = None
    if baseline is not None:
        if baseline == run_id:
            raise UsageError("a run cannot be its own baseline")
        base = _run(db, baseline)
        if base["dataset_id"] != run["dataset_id"]:
            raise UsageError(f"baseline {baseline} is a run on dataset '{base['dataset']}', not '{run['dataset']}'")
        base_version = base["dataset_version_id"]
        base_codes = _codes(db, baseline)
        pairs = pair_with_baseline(models, base["models"])
        keys |= {k for k, theirs in base_codes.items() if any(b in theirs for _, b in pairs)}
        if base_version != run["dataset_version_id"]:
            for cid, ord_, task, diff in store_review.version_case_facts(db, base_version):
                facts.setdefault(cid, (1, ord_, task, diff))

    entries = []
    classes_of: dict[tuple, frozenset[CaseClass]] = {}  # few distinct mark combinations: class each once
    for case_id, repeat in keys:
        part, ord_, task, diff = facts.get(case_id, (2, 0, "generation", None))
        mine = codes.get((case_id, repeat), {})
        row_marks = tuple(_MARKS[mine[m]] if m in mine else MISSING for m in models)
        before = None
        if baseline is not None:
            theirs = base_codes.get((case_id, repeat), {})
            before = tuple(_MARKS[theirs[b]] if b in theirs else MISSING for _, b in pairs)
        entries.append(CaseEntry(
            key=(part, ord_, repeat), case_id=case_id, repeat=repeat, task_type=task, difficulty=diff,
            marks=row_marks, baseline=before, classes=_classes(classes_of, row_marks, models, a, b, before, pairs)))
    entries.sort(key=lambda e: (e.key, e.case_id))
    return ReviewIndex(
        run_id=run_id, dataset=run["dataset"], dataset_id=run["dataset_id"], version_id=run["dataset_version_id"],
        models=models, a=a, b=b, baseline_id=baseline, baseline_version_id=base_version, baseline_pairs=pairs,
        entries=tuple(entries), task_types=tuple(sorted({e.task_type for e in entries})),
        difficulties=tuple(sorted({e.difficulty for e in entries if e.difficulty})),
        _keys=[e.key for e in entries],
    )


# --- counts, search, pages ------------------------------------------------------------------------


def class_counts(index: ReviewIndex, query: CaseQuery = CaseQuery()) -> dict[CaseClass, int]:
    """Rows of each class among those the query keeps apart from its class (so the counts show
    what pressing each filter key would list)."""
    counts = dict.fromkeys(CLASSES, 0)
    for e in index.entries:
        if query.keeps(e, with_class=False):
            for c in e.classes:
                counts[c] += 1
    return counts


def search_ids(db: sqlite_utils.Database, index: ReviewIndex, text: str) -> frozenset[str] | None:
    """Case ids whose id, input, expected output or any answer contains `text` (None for no text)."""
    text = text.strip()
    if not text:
        return None
    versions = [index.version_id] + ([index.baseline_version_id] if index.baseline_version_id else [])
    runs = [index.run_id] + ([index.baseline_id] if index.baseline_id else [])
    return frozenset(store_review.matching_case_ids(db, versions, runs, text))


def page(db: sqlite_utils.Database, index: ReviewIndex, query: CaseQuery = CaseQuery(), *,
         after: RowKey | None = None, before: RowKey | None = None, at: RowKey | None = None,
         limit: int = 50) -> ReviewPage:
    """One keyset page of the rows the query keeps, in case order: the first page, the rows after
    (or before) a row key, or the page that starts at a row (`at`, for jumping to a case)."""
    kept = [e for e in index.entries if query.keeps(e)]
    keys = [e.key for e in kept] if len(kept) != len(index.entries) else index._keys
    if before is not None:
        end = bisect.bisect_left(keys, before)
        start = max(end - limit, 0)
    else:
        start = (bisect.bisect_right(keys, after) if after is not None
                 else bisect.bisect_left(keys, at) if at is not None else 0)
        end = min(start + limit, len(kept))
    chosen = kept[start:end]
    previews = store_review.input_previews(db, index.version_id, [e.case_id for e in chosen])
    missing = [e.case_id for e in chosen if e.case_id not in previews]
    if missing and index.baseline_version_id is not None:
        previews |= store_review.input_previews(db, index.baseline_version_id, missing)
    return ReviewPage(rows=[ReviewRow(e, previews.get(e.case_id, "")) for e in chosen],
                      has_prev=start > 0, has_next=end < len(kept), total=len(kept), first=start)


def with_models(index: ReviewIndex, a: str, b: str) -> ReviewIndex:
    """The same index with other models A and B (only their classes change)."""
    for name in (a, b):
        if name not in index.models:
            raise UsageError(f"model '{name}' is not in run {index.run_id}")
    classes_of: dict[tuple, frozenset[CaseClass]] = {}
    entries = tuple(replace(e, classes=_classes(classes_of, e.marks, index.models, a, b, e.baseline,
                                                index.baseline_pairs)) for e in index.entries)
    return replace(index, a=a, b=b, entries=entries)
