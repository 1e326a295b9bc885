"""Custom Python scorers: `type = "python"`, `path = "scorers/my.py:fn"`.

TRUSTED CODE. The file is imported and run in the Assay process with your permissions, exactly
like code you run yourself. That is why a scorer path can only come from configuration under
your control (assay.toml, or a promptfoo config you import yourself, where python assertions are
refused anyway): dataset content is untrusted and is never consulted for a scorer path.

The function is called as fn(output: str, case: dict) and returns one of:
    bool                 -> score 1.0 / 0.0
    number in [0, 1]     -> that score; passed = score >= threshold (option, default 0.5)
    dict                 -> {"score": number, "passed": bool (optional), "details": dict (optional)}
    ScoreResult          -> as is
Anything else, and any exception, is a scorer error. Options: threshold, needs_expected (default
true: unlabeled cases are not scored), timeout_s.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from scorers.base import ScoreContext, Scorer, ScoreResult, ScorerConfigError, check_unit

_modules: dict[Path, Any] = {}
_lock = threading.Lock()


def load_function(spec: str, root: Path) -> Callable[..., Any]:
    """Import `file.py:function` (file relative to the workspace root)."""
    file_part, sep, fn_name = spec.rpartition(":")
    if not sep or not file_part or not fn_name.isidentifier():
        raise ScorerConfigError(f"expected 'path/to/file.py:function', got {spec!r}", "path")
    path = (root / file_part).resolve()
    if path.suffix != ".py" or not path.is_file():
        raise ScorerConfigError(f"no Python file at {path}", "path")
    with _lock:
        module = _modules.get(path)
        if module is None:
            # A private module name: a workspace folder called scorers/ must not shadow Assay's own
            # package, and two files with the same name must not collide.
            name = "assay_user_scorer_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
            mod_spec = importlib.util.spec_from_file_location(name, path)
            if mod_spec is None or mod_spec.loader is None:
                raise ScorerConfigError(f"cannot import {path}", "path")
            module = importlib.util.module_from_spec(mod_spec)
            try:
                mod_spec.loader.exec_module(module)
            except Exception as exc:  # noqa: BLE001 - report any import failure as a config problem
                raise ScorerConfigError(f"importing {path} failed: {type(exc).__name__}: {exc}", "path") from None
            _modules[path] = module
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise ScorerConfigError(f"{path} has no function {fn_name!r}", "path")
    return fn


def to_result(value: Any, threshold: float) -> ScoreResult:
    if isinstance(value, ScoreResult):
        return value
    if isinstance(value, bool):
        return ScoreResult(1.0 if value else 0.0, value)
    if isinstance(value, (int, float)):
        score = check_unit(value)
        return ScoreResult(score, score >= threshold)
    if isinstance(value, Mapping):
        unknown = set(value) - {"score", "passed", "details"}
        if unknown:
            raise ValueError(f"unexpected key(s) {sorted(unknown)} in the returned dict")
        passed = value.get("passed")
        score = value.get("score")
        if score is None:
            if not isinstance(passed, bool):
                raise ValueError("the returned dict needs a score or a boolean passed")
            score = 1.0 if passed else 0.0
        score = check_unit(score)
        return ScoreResult(score, score >= threshold if passed is None else passed, dict(value.get("details") or {}))
    raise TypeError(f"a scorer must return bool, number, dict or ScoreResult, not {type(value).__name__}")


class PythonScorer(Scorer):
    def __init__(self, path: str, root: Path, threshold: float = 0.5, needs_expected: bool = True,
                 timeout_s: float | None = None):
        if not isinstance(path, str):
            raise ScorerConfigError("must be 'path/to/file.py:function'", "path")
        self.fn = load_function(path, root)
        self.name = f"python:{path}"
        try:
            self.threshold = check_unit(threshold, "threshold")
        except ValueError as exc:
            raise ScorerConfigError(str(exc), "threshold") from None
        self.needs_expected = bool(needs_expected)
        self.timeout_s = timeout_s

    def __call__(self, output: str, case: Mapping[str, Any], ctx: ScoreContext) -> ScoreResult:
        return to_result(self.fn(output, dict(case)), self.threshold)
