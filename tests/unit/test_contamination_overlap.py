"""The contamination probe's measures (core.run.overlap), hand-computed, and the per-model report
(core.run.contamination.contamination_report) on hand-built probe rows: shares, the control, the
expected-output chance rate, worst cases and unknown cost."""

from __future__ import annotations

import pytest

from core.run.contamination import contamination_report
from core.run.overlap import (longest_common_run, ngram_precision, normalised, overlap, shuffled_control, split_words,
                              tokens)
from store import connect, write
from store import datasets as store_ds
from store import probes as store_probes


def test_tokens_ignore_case_and_punctuation():
    assert tokens("Hello, World!  It's 30-days_ok") == ["hello", "world", "it", "s", "30", "days", "ok"]
    assert normalised("  The answer:\n30 DAYS. ") == "the answer 30 days"


def test_longest_common_run():
    assert longest_common_run(list("abcd"), list("xbcy")) == 2
    assert longest_common_run(list("abcdef"), list("zzcdefab")) == 4  # "cdef", not "ab"
    assert longest_common_run([], list("abc")) == 0
    assert longest_common_run(list("abc"), list("xyz")) == 0


def test_ngram_precision():
    out, target = "a b c d e f".split(), "a b c d e x".split()
    # The output's 5-grams: (a b c d e) is in the target, (b c d e f) is not.
    assert ngram_precision(out, target, 5) == 0.5
    assert ngram_precision(out, target, 1) == 5 / 6
    assert ngram_precision("a b".split(), target, 5) is None  # too short to measure: not zero
    assert ngram_precision(out, "a b".split(), 5) is None
    with pytest.raises(ValueError):
        ngram_precision(out, target, 0)


def test_overlap_normalises_by_the_target():
    # Target: 8 tokens; the output repeats "refund the duplicate payment" (4 in a row) then drifts.
    got = overlap("Sure: refund the DUPLICATE payment, please and thank you",
                  "can you refund the duplicate payment for me", n=2)
    assert (got.target_tokens, got.longest_run) == (8, 4)
    assert got.longest_run_ratio == 0.5
    # Output: 9 tokens, 8 2-grams; in the target: (refund the) (the duplicate) (duplicate payment).
    assert got.ngram_precision == pytest.approx(3 / 8)
    assert overlap("anything", "").longest_run_ratio is None


def test_split_words():
    assert split_words("one two three four five", 0.5) == ("one two", "three four five")  # round(2.5) = 2
    assert split_words("one two three", 0.5) == ("one two", "three")
    assert split_words("one two", 0.99) == ("one", "two")  # always a word left to continue
    assert split_words("one two three four", 0.01) == ("one", "two three four")
    assert split_words("single", 0.5) is None
    with pytest.raises(ValueError):
        split_words("a b c", 1.0)


def test_shuffled_control_is_the_same_words_in_a_fixed_other_order():
    prefix = "I was charged twice for my March subscription"
    control = shuffled_control(prefix, "ticket-001")
    assert control != prefix
    assert sorted(control.split()) == sorted(prefix.split())
    assert shuffled_control(prefix, "ticket-001") == control  # deterministic per case
    assert shuffled_control("same same", "x") == "same same"  # nothing to shuffle


# --- the report on hand-built rows -------------------------------------------------------------

CASES = [{"id": f"c{i}", "input_text": f"case {i} text", "expected_output": label}
         for i, label in enumerate(["billing", "billing", "technical", "account"])]


def _probe_run(tmp_path, rows):
    db = connect(tmp_path / "assay.db")
    with write(db):
        ds = store_ds.create_dataset(db, "d")
        store_ds.insert_cases(db, ds, CASES)
    from core.datasets.versions import snapshot

    version, _ = snapshot(db, ds, "probe")
    run_id = store_probes.create_run(db, kind="contamination", dataset_id=ds, dataset_version_id=version["id"],
                                     dataset_hash=version["content_hash"], models=["m"],
                                     config={"split": 0.5, "threshold": 0.5, "ngram": 5, "cases": 4, "too_short": 0},
                                     app_version="test")
    for case_id, probe, status, ratio, output, exact, cost in rows:
        store_probes.insert_result(db, {
            "probe_run_id": run_id, "case_id": case_id, "model": "m", "probe": probe, "status": status,
            "output": output, "target_tokens": 1 if probe == "expected" else 4, "longest_run_ratio": ratio,
            "exact_match": exact, "cost_usd": cost, "cost_status": "config" if cost is not None else "unknown"})
    store_probes.set_status(db, run_id, "finished")
    return db, run_id


def test_report_shares_control_and_expected_chance(tmp_path):
    rows = [
        # c0, c1 flagged (ratio >= 0.5), c2 below; c3's control is flagged by chance; c3's continue failed.
        ("c0", "continue", "ok", 1.0, "x", None, 0.01), ("c0", "control", "ok", 0.25, "x", None, 0.01),
        ("c1", "continue", "ok", 0.5, "x", None, 0.01), ("c1", "control", "ok", 0.0, "x", None, 0.01),
        ("c2", "continue", "ok", 0.25, "x", None, 0.01), ("c2", "control", "ok", 0.75, "x", None, 0.01),
        ("c3", "continue", "error", None, None, None, None), ("c3", "control", "ok", 0.0, "x", None, None),
        # Expected: c0 and c2 reproduced. Chance: each answer vs the next case's label
        # ("billing" for c0 vs c1's "billing": yes; "technical" for c2 vs c3's "account": no; ...).
        ("c0", "expected", "ok", 1.0, "billing", True, 0.01),
        ("c1", "expected", "ok", 0.0, "no idea", False, 0.01),
        ("c2", "expected", "ok", 1.0, "Technical.", True, 0.01),
        ("c3", "expected", "ok", 0.0, "billing", False, None),  # unpriced: the cost becomes unknown
    ]
    db, run_id = _probe_run(tmp_path, rows)
    report = contamination_report(db, run_id)
    assert (report.dataset, report.kind, report.status, report.threshold) == ("d", "contamination", "finished", 0.5)
    (m,) = report.models
    assert (m.cases, m.errors) == (3, 1)  # c3 has no ok continuation: not in the paired base
    assert (m.flagged, m.flagged_share) == (2, 2 / 3)
    assert (m.control_flagged, m.control_share) == (1, 1 / 3)
    assert m.p_value == 1.0  # discordant pairs: c0 and c1 flagged alone, c2's control alone: 2 vs 1
    assert m.mean_run_ratio == pytest.approx((1.0 + 0.5 + 0.25) / 3)
    assert m.mean_ngram_precision is None  # no row measured one
    assert (m.expected_cases, m.expected_reproduced, m.expected_share) == (4, 2, 0.5)
    # c0 "billing" vs c1 "billing": chance hit; c1 "no idea" vs "technical": no; c2 vs "account": no;
    # c3 "billing" vs c0 "billing" (rotated back to the first): chance hit.
    assert m.expected_chance_share == 0.5
    assert not m.suspected
    assert [w.case_id for w in m.worst] == ["c0", "c1", "c2"]
    assert m.worst[0].control_ratio == 0.25 and m.worst[0].expected_reproduced is True
    assert (m.cost_usd, m.cost_unknown) == (None, 2)


def test_unknown_probe_run_is_not_found(tmp_path):
    from core.errors import NotFoundError

    db = connect(tmp_path / "assay.db")
    with pytest.raises(NotFoundError):
        contamination_report(db, "p-nope")
