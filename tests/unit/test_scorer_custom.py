"""Custom Python scorers (trusted code from assay.toml): return shapes, errors, loading."""

from __future__ import annotations

import textwrap

import pytest

import scorers
from scorers.base import ScoreContext, ScoreResult, ScorerConfigError, run_scorer
from scorers.registry import build_scorer

CASE = {"id": "c", "input_text": "x", "expected_output": "Paris", "task_type": "qa", "metadata": {"k": 1}}

SOURCE = textwrap.dedent('''
    from scorers.base import ScoreResult

    def as_bool(output, case):
        return output.strip() == case["expected_output"]

    def as_number(output, case):
        return 0.6

    def as_dict(output, case):
        return {"score": 0.25, "details": {"why": "quarter"}}

    def as_dict_passed(output, case):
        return {"passed": True}

    def as_result(output, case):
        return ScoreResult(0.9, True, {"k": case["metadata"]["k"]})

    def boom(output, case):
        raise RuntimeError("scorer bug")

    def out_of_range(output, case):
        return 1.5

    def wrong_type(output, case):
        return "yes"

    def bad_key(output, case):
        return {"score": 1, "pased": True}

    def not_json(output, case):
        return {"score": 1, "details": {"x": object()}}

    def mutates(output, case):
        case["expected_output"] = "changed"
        return True
''')


@pytest.fixture()
def root(tmp_path):
    # A workspace folder named like our package: it must not shadow `scorers`.
    (tmp_path / "scorers").mkdir()
    (tmp_path / "scorers" / "my.py").write_text(SOURCE, encoding="utf-8")
    return tmp_path


def run(root, fn, output="Paris", **opts):
    scorer = build_scorer({"type": "python", "path": f"scorers/my.py:{fn}", **opts}, root=root)
    return run_scorer(scorer, output, CASE, ScoreContext())


def test_return_shapes(root):
    v = run(root, "as_bool")
    assert (v.status, v.score, v.passed) == ("ok", 1.0, True) and v.scorer == "python:scorers/my.py:as_bool"
    assert run(root, "as_bool", output="Rome").passed is False
    assert (run(root, "as_number").score, run(root, "as_number").passed) == (0.6, True)  # default threshold 0.5
    assert run(root, "as_number", threshold=0.7).passed is False
    v = run(root, "as_dict")
    assert (v.score, v.passed, v.details) == (0.25, False, {"why": "quarter"})
    assert (run(root, "as_dict_passed").score, run(root, "as_dict_passed").passed) == (1.0, True)
    v = run(root, "as_result")
    assert (v.score, v.passed, v.details) == (0.9, True, {"k": 1})


@pytest.mark.parametrize("fn, text", [
    ("boom", "RuntimeError: scorer bug"), ("out_of_range", "[0, 1]"), ("wrong_type", "must return"),
    ("bad_key", "pased"), ("not_json", "TypeError"),
])
def test_failures_are_scorer_errors(root, fn, text):
    v = run(root, fn)
    assert (v.status, v.score, v.passed) == ("error", None, None)
    assert text in v.details["error"]


def test_case_is_a_copy(root):
    case = dict(CASE)
    scorer = build_scorer({"type": "python", "path": "scorers/my.py:mutates"}, root=root)
    run_scorer(scorer, "x", case, ScoreContext())
    assert case["expected_output"] == "Paris"


def test_package_not_shadowed(root):
    run(root, "as_bool")
    assert scorers.__file__ and "site-packages" not in scorers.__file__
    assert hasattr(scorers, "build_scorer")


@pytest.mark.parametrize("path, text", [
    ("scorers/my.py", "file.py:function"),
    ("scorers/missing.py:fn", "no Python file"),
    ("scorers/my.py:nope", "no function"),
    ("scorers/my.py:not an identifier", "file.py:function"),
])
def test_bad_paths_are_config_errors(root, path, text):
    with pytest.raises(ScorerConfigError) as info:
        build_scorer({"type": "python", "path": path}, root=root)
    assert text in str(info.value)


def test_import_failure_is_a_config_error(tmp_path):
    (tmp_path / "bad.py").write_text("raise ImportError('nope')\n", encoding="utf-8")
    with pytest.raises(ScorerConfigError, match="importing"):
        build_scorer({"type": "python", "path": "bad.py:fn"}, root=tmp_path)


def test_needs_expected_option(root):
    assert build_scorer({"type": "python", "path": "scorers/my.py:as_bool"}, root=root).needs_expected
    assert not build_scorer({"type": "python", "path": "scorers/my.py:as_bool", "needs_expected": False},
                            root=root).needs_expected


def test_score_result_validates():
    with pytest.raises(ValueError):
        ScoreResult(float("nan"), True)
    with pytest.raises(ValueError):
        ScoreResult(0.5, 1)
