"""One case side by side: its input and ground truth, and 2-4 answers (models of the run, and with a
baseline their baseline counterparts) each with its verdict, score and scorer details; plus a
word-level diff of two texts.

Scorer details are read from the scorers' stored `details` (store.scores) into typed marks:
extraction per-field verdicts, classification predicted vs expected, assertions with their
reasons, a judge's or scorer's reason, a scorer error's message.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlite_utils

from core.errors import NotFoundError
from core.review.cases import Mark, ReviewIndex, mark_of
from store import review as store_review
from store import scores as store_scores
from store.overrides import latest_overrides

MAX_COLUMNS = 4


@dataclass(frozen=True, slots=True)
class FieldMark:
    name: str
    verdict: str  # match | wrong | missing | extra
    expected: str | None
    got: str | None


@dataclass(frozen=True, slots=True)
class AssertionMark:
    type: str
    passed: bool
    reason: str
    weight: float


@dataclass(frozen=True, slots=True)
class ScorerDetail:
    """One scorer's verdict on an answer and why (the fields that apply to its kind are set)."""

    scorer: str
    status: str  # ok | error
    score: float | None
    passed: bool | None
    error: str | None = None
    reason: str | None = None  # a judge's reason, or why nothing could be compared
    fields: list[FieldMark] = field(default_factory=list)
    extra_keys: list[str] = field(default_factory=list)
    predicted: str | None = None
    expected: str | None = None
    valid_label: bool | None = None
    assertions: list[AssertionMark] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class HumanVerdict:
    passed: bool
    replaces: str
    reason: str
    annotator: str
    created_at: str


@dataclass(frozen=True, slots=True)
class Answer:
    """One column: a model's answer to the case in the run (or in the baseline)."""

    model: str
    baseline: bool  # the baseline run's answer
    result_id: int | None  # None: no row (missing)
    status: str  # ok | error | skipped | missing
    output: str  # as stored; JSON pretty-printed when it parses ("" without an answer)
    is_json: bool
    verdict: Mark
    score: float | None
    override: HumanVerdict | None
    scorers: list[ScorerDetail]
    error: str | None  # the call's error class and message
    latency_ms: float | None
    cost_usd: float | None


@dataclass(frozen=True, slots=True)
class CaseDetail:
    case_id: str
    repeat: int
    task_type: str
    difficulty: str | None
    input_text: str
    expected: str | None  # the ground truth the run was scored against, pretty-printed; None = unlabeled
    answers: list[Answer]
    metadata: dict[str, Any] = field(default_factory=dict)  # the case's, as the run saw it (untrusted)


def pretty(value: Any) -> tuple[str, bool]:
    """(text, is_json): objects and arrays as indented JSON (also when given as JSON text)."""
    if value is None:
        return "", False
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value, False
        if not isinstance(parsed, (dict, list)):
            return value, False
        value = parsed
    elif not isinstance(value, (dict, list)):
        return str(value), False
    return json.dumps(value, indent=2, ensure_ascii=False), True


def _shown(value: Any) -> str | None:
    return None if value is None else value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def scorer_detail(row: dict[str, Any]) -> ScorerDetail:
    """A stored score row (details decoded) as a typed detail."""
    d = row["details"] if isinstance(row.get("details"), dict) else {}
    fields = d.get("fields") if isinstance(d.get("fields"), dict) else {}
    return ScorerDetail(
        scorer=row["scorer"], status=row["status"], score=row["score"], passed=row["passed"],
        error=_shown(d.get("error")) if row["status"] == "error" else None,
        reason=_shown(d.get("reason")),
        fields=[FieldMark(name, str(f.get("verdict")), _shown(f.get("expected")), _shown(f.get("got")))
                for name, f in fields.items() if isinstance(f, dict) and f.get("verdict") != "absent"],
        extra_keys=[str(k) for k in d.get("extra_keys") or []],
        predicted=_shown(d.get("predicted")) if "predicted" in d else None,
        expected=_shown(d.get("expected")) if "predicted" in d else None,
        valid_label=d.get("valid_label") if "predicted" in d else None,
        assertions=[AssertionMark(str(a.get("type")), bool(a.get("pass")), str(a.get("reason") or ""),
                                  float(a.get("weight", 1))) for a in d.get("assertions") or [] if isinstance(a, dict)],
    )


def columns(index: ReviewIndex, limit: int = MAX_COLUMNS) -> list[tuple[str, bool]]:
    """The answers shown side by side, as (model, from the baseline): models A and B then the
    others; with a baseline, each paired model next to its baseline answer."""
    order = [m for m in (index.a, index.b) if m is not None]
    order += [m for m in index.models if m not in order]
    if index.baseline_id is None:
        return [(m, False) for m in order][:limit]
    counterpart = dict(index.baseline_pairs)
    out: list[tuple[str, bool]] = []
    for m in order:
        out.append((m, False))
        if m in counterpart:
            out.append((counterpart[m], True))
    return out[:limit]


def _answers(db: sqlite_utils.Database, run_id: str, case_id: str, repeat: int,
             models: list[str], baseline: bool) -> dict[str, Answer]:
    rows = {(r["model"], r["repeat"]): r for r in store_review.case_results(db, run_id, case_id)}
    verdicts = {(v.model, v.repeat): v for v in store_review.result_verdicts(db, run_id, case_id=case_id)}
    overrides = latest_overrides(db, run_id)
    out = {}
    for model in models:
        r = rows.get((model, repeat))
        if r is None:
            out[model] = Answer(model, baseline, None, "missing", "", False, "missing", None, None, [], None, None, None)
            continue
        mark = mark_of(verdicts[(model, repeat)])
        found = store_scores.result_with_scores(db, r["id"])
        score_rows = found[1] if found and r["status"] == "ok" else []
        o = overrides.get(r["id"])
        text, is_json = pretty(r["output"])
        out[model] = Answer(
            model=model, baseline=baseline, result_id=r["id"], status=r["status"], output=text, is_json=is_json,
            verdict=mark.verdict, score=mark.score,
            override=HumanVerdict(o.passed, o.replaces, o.reason, o.annotator, o.created_at) if o else None,
            scorers=[scorer_detail(s) for s in score_rows],
            error=None if r["status"] == "ok" else f"{r['error_class'] or r['status']}: {r['error_message'] or ''}".strip(),
            latency_ms=r["latency_ms"], cost_usd=r["cost_usd"])
    return out


def case_detail(db: sqlite_utils.Database, index: ReviewIndex, case_id: str, repeat: int = 0) -> CaseDetail:
    """The case as the run saw it (the baseline's version for a case only the baseline has), and
    the answers of `columns(index)`."""
    case = store_review.version_case(db, index.version_id, case_id)
    if case is None and index.baseline_version_id is not None:
        case = store_review.version_case(db, index.baseline_version_id, case_id)
    if case is None:
        raise NotFoundError(f"no case '{case_id}' in run {index.run_id}")
    shown = columns(index)
    mine = _answers(db, index.run_id, case_id, repeat, [m for m, base in shown if not base], False)
    theirs = (_answers(db, index.baseline_id, case_id, repeat, [m for m, base in shown if base], True)
              if index.baseline_id else {})
    expected = case.get("expected_output")
    return CaseDetail(
        case_id=case_id, repeat=repeat, task_type=case.get("task_type") or "generation",
        difficulty=case.get("difficulty"), input_text=str(case.get("input_text") or ""),
        expected=None if expected is None else pretty(expected)[0],
        answers=[(theirs if base else mine)[m] for m, base in shown], metadata=case.get("metadata") or {})


# --- word diff -----------------------------------------------------------------------------------

DiffOp = Literal["equal", "delete", "insert"]
_TOKENS = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True, slots=True)
class DiffPiece:
    op: DiffOp  # equal: in both; delete: only in the first text; insert: only in the second
    text: str


def word_diff(a: str, b: str) -> list[DiffPiece]:
    """Word-level diff of `a` -> `b` (words, punctuation and whitespace runs are the tokens);
    adjacent pieces of the same kind are merged. Joining the equal+delete pieces gives `a`,
    the equal+insert pieces `b`."""
    ta, tb = _TOKENS.findall(a), _TOKENS.findall(b)
    out: list[DiffPiece] = []

    def emit(op: DiffOp, tokens: list[str]) -> None:
        if not tokens:
            return
        text = "".join(tokens)
        if out and out[-1].op == op:
            out[-1] = DiffPiece(op, out[-1].text + text)
        else:
            out.append(DiffPiece(op, text))

    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ta, tb, autojunk=False).get_opcodes():
        if tag == "equal":
            emit("equal", ta[i1:i2])
        else:
            emit("delete", ta[i1:i2])
            emit("insert", tb[j1:j2])
    return out
