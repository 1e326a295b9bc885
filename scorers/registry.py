"""Scorers by name, built from a `[scorers.<task_type>]` spec.

    type = "extraction"     scorers.extraction (fields, threshold, normalize, tolerance)
    type = "classification" scorers.classification (labels from [tasks.<task_type>].labels)
    type = "exact"          scorers.exact, normalised exact match
    type = "python"         scorers.custom (path = "file.py:function", relative to the workspace)
    assert = [...]          scorers.assertions, an assertion set (optional threshold)
    type = "<assertion>"    one assertion as the scorer, e.g. type = "llm-rubric", value = "..."

Every spec may also set `timeout_s` (seconds before the scorer counts as an error).
With no spec: extraction for task type "extraction", classification for "classification",
exact for everything else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from scorers.assertions import ASSERTION_TYPES, AssertionSet, split_type
from scorers.base import Scorer, ScorerConfigError
from scorers.classification import ClassificationScorer
from scorers.custom import PythonScorer
from scorers.exact import ExactScorer
from scorers.extraction import ExtractionScorer

Factory = Callable[[dict[str, Any], Path], Scorer]


def _assert_set(options: dict[str, Any], root: Path) -> Scorer:
    return AssertionSet(options.pop("assert", None), options.pop("threshold", None), name="assert")


REGISTRY: dict[str, Factory] = {
    "extraction": lambda o, root: ExtractionScorer(**o),
    "classification": lambda o, root: ClassificationScorer(**o),
    "exact": lambda o, root: ExactScorer(**o),
    "python": lambda o, root: PythonScorer(root=root, **o),
    "assert": _assert_set,
}


def build_scorer(spec: Mapping[str, Any], *, root: Path | None = None) -> Scorer:
    """Build one scorer; ScorerConfigError names the bad key inside the spec."""
    options = dict(spec)
    timeout = options.pop("timeout_s", None)
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ScorerConfigError("must be a number of seconds > 0", "timeout_s")
    kind = options.pop("type", None)
    if kind is None and "assert" in options:
        kind = "assert"
    if not isinstance(kind, str):
        raise ScorerConfigError("set `type` (extraction, classification, exact, python, or an assertion type) "
                                "or an `assert` list", "type")
    if kind not in REGISTRY and split_type(kind)[0] in ASSERTION_TYPES:
        # A single assertion used as the whole scorer, named after it.
        scorer: Scorer = AssertionSet([{"type": kind, **options}], name=kind, key=kind)
    elif kind in REGISTRY:
        try:
            scorer = REGISTRY[kind](options, root or Path.cwd())
        except TypeError as exc:
            raise ScorerConfigError(f"unknown option for {kind}: {exc}") from None
        if options and kind == "assert":
            raise ScorerConfigError(f"unknown option(s) {', '.join(sorted(options))} for an assert list")
    else:
        raise ScorerConfigError(
            f"unknown scorer type {kind!r} (known: {', '.join(sorted(REGISTRY))}, or an assertion type)", "type")
    if timeout is not None:
        scorer.timeout_s = float(timeout)
    return scorer


def default_scorer(task_type: str) -> Scorer:
    if task_type == "extraction":
        return ExtractionScorer()
    if task_type == "classification":
        return ClassificationScorer()
    return ExactScorer()
