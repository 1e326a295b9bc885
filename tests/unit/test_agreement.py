"""Agreement statistics checked against published worked examples, and the loader from label events."""

from __future__ import annotations

import pytest

from core.labeling.agreement import (
    agreement_report, cohen_kappa, confusion_matrix, krippendorff_alpha_nominal, load_agreement, percent_agreement,
)
from store import connect, write
from store import datasets as store_ds
from store.labels import append_event


def _two_by_two(a: int, b: int, c: int, d: int) -> tuple[list[str], list[str]]:
    """Rater A/B answers from a 2x2 table: a = both yes, b = A yes B no, c = A no B yes, d = both no."""
    ra = ["yes"] * (a + b) + ["no"] * (c + d)
    rb = ["yes"] * a + ["no"] * b + ["yes"] * c + ["no"] * d
    return ra, rb


@pytest.mark.parametrize("table, kappa", [
    # Wikipedia, "Cohen's kappa", worked example: 50 proposals, p_o = 0.7, p_e = 0.5.
    ((20, 5, 10, 15), 0.4),
    # Wikipedia, same article, "same percentage agreement, different kappa" examples.
    ((45, 15, 25, 15), 0.1304),
    ((25, 35, 5, 35), 0.2593),
])
def test_cohen_kappa_published_examples(table, kappa):
    a, b = _two_by_two(*table)
    assert cohen_kappa(a, b) == pytest.approx(kappa, abs=1e-4)


def test_percent_agreement_and_confusion_matrix():
    a, b = _two_by_two(20, 5, 10, 15)
    assert percent_agreement(a, b) == pytest.approx(0.7)
    cats, matrix = confusion_matrix(a, b)
    assert cats == ["no", "yes"] and matrix == [[15, 10], [5, 20]]


def test_kappa_undefined_without_variation():
    assert cohen_kappa(["x"] * 4, ["x"] * 4) is None
    assert cohen_kappa([], []) is None


# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C (nominal data,
# any number of observers, missing values): 4 observers x 12 units; alpha_nominal = 0.743.
KRIPPENDORFF_2011 = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}


def test_krippendorff_alpha_nominal_canonical_example():
    units = list(zip(*KRIPPENDORFF_2011.values()))
    assert krippendorff_alpha_nominal(units) == pytest.approx(0.743, abs=5e-4)


def test_krippendorff_alpha_edge_cases():
    assert krippendorff_alpha_nominal([[1, 1], [2, 2], [1, 1]]) == pytest.approx(1.0)
    assert krippendorff_alpha_nominal([[1], [2]]) is None  # nothing pairable
    assert krippendorff_alpha_nominal([[1, 1], [1, 1]]) is None  # no variation
    # Two coders, no missing data: alpha = 1 - (1 - pi) * (2N - 1) / 2N with Scott's pi
    # (here pi = (0.7 - 0.505) / 0.495 over N = 50 units).
    a, b = _two_by_two(20, 5, 10, 15)
    pi = (0.7 - 0.505) / 0.495
    assert krippendorff_alpha_nominal(zip(a, b)) == pytest.approx(1 - (1 - pi) * 99 / 100, abs=1e-9)


def test_report_from_ratings_with_missing_labels():
    ratings = {f"u{i}": {k: v[i] for k, v in KRIPPENDORFF_2011.items() if v[i] is not None} for i in range(12)}
    report = agreement_report(ratings)
    assert report.alpha == pytest.approx(0.743, abs=5e-4)
    assert report.annotators == ["A", "B", "C", "D"] and report.n_cases == 12 and report.n_pairable == 11
    ab = report.pairs[0]
    assert (ab.a, ab.b, ab.n) == ("A", "B", 9) and ab.percent == pytest.approx(8 / 9)
    assert report.as_dict()["pairs"][0]["confusion"]["categories"] == ["1", "2", "3", "4"]


def test_load_agreement_uses_current_labels_only(tmp_path):
    db = connect(tmp_path / "a.db")
    with write(db):
        ds = store_ds.create_dataset(db, "d")
        store_ds.insert_cases(db, ds, [{"id": c, "input_text": c} for c in "abc"])
        for case, ana, bo in (("a", "x", "x"), ("b", "x", "y"), ("c", "y", "y")):
            append_event(db, dataset_id=ds, case_id=case, annotator="ana", kind="label", value=ana)
            append_event(db, dataset_id=ds, case_id=case, annotator="bo", kind="label", value=bo)
        wrong = append_event(db, dataset_id=ds, case_id="b", annotator="bo", kind="label", value="x")
        append_event(db, dataset_id=ds, case_id="b", annotator="bo", kind="undo", undoes=wrong)
    report = load_agreement(db, ds)
    [pair] = report.pairs
    assert pair.n == 3 and pair.percent == pytest.approx(2 / 3) and pair.kappa == pytest.approx(0.4)  # p_e = 4/9
    assert pair.categories == ["x", "y"] and pair.matrix == [[1, 1], [0, 1]]
