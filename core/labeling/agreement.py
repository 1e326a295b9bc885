"""Inter-annotator agreement: pure functions over ratings, and a loader from the label log.

- percent agreement and Cohen's kappa for each pair of annotators, over the cases both labeled;
- Krippendorff's alpha (nominal) over everyone, which copes with missing labels and with cases
  that have different numbers of labels (Krippendorff 2011, "Computing Krippendorff's
  Alpha-Reliability");
- a confusion matrix per pair.

Values are compared by their canonical JSON, so extraction objects compare field by field
regardless of key order. A statistic that is undefined (no pairable data, or no variation at all)
is None, never a made-up number.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import sqlite_utils

from core.datasets.ground_truth import current_labels
from core.common.hashing import canonical_json
from store.labels import iter_events

Ratings = Mapping[str, Mapping[str, Hashable]]  # unit (case id) -> {annotator: value}


def percent_agreement(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Share of items on which two raters gave the same value."""
    if len(a) != len(b):
        raise ValueError("both raters must rate the same items")
    if not a:
        return None
    return sum(x == y for x, y in zip(a, b)) / len(a)


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters over the same items: (p_o - p_e) / (1 - p_e)."""
    p_o = percent_agreement(a, b)
    if p_o is None:
        return None
    n = len(a)
    ca, cb = Counter(a), Counter(b)
    p_e = sum(ca[k] * cb[k] for k in ca) / (n * n)
    if p_e == 1:
        return None  # both raters used one and the same category: chance explains everything
    return (p_o - p_e) / (1 - p_e)


def confusion_matrix(a: Sequence[Hashable], b: Sequence[Hashable]) -> tuple[list[Hashable], list[list[int]]]:
    """(categories, matrix) with matrix[i][j] = items rater a put in category i and rater b in j."""
    if len(a) != len(b):
        raise ValueError("both raters must rate the same items")
    cats = sorted(set(a) | set(b), key=lambda v: (str(type(v)), str(v)))
    pos = {c: i for i, c in enumerate(cats)}
    matrix = [[0] * len(cats) for _ in cats]
    for x, y in zip(a, b):
        matrix[pos[x]][pos[y]] += 1
    return cats, matrix


def krippendorff_alpha_nominal(units: Iterable[Iterable[Hashable | None]]) -> float | None:
    """Krippendorff's alpha for nominal data. Each unit is the values its coders gave; None = missing.

    Units with fewer than two values cannot be paired and do not count. Built from the
    coincidence matrix: o_ck = sum over units of (pairs c-k within the unit) / (m_u - 1),
    alpha = 1 - (n - 1) * sum_{c!=k} o_ck / sum_{c!=k} n_c * n_k.
    """
    coincidence: Counter[tuple[Hashable, Hashable]] = Counter()
    for unit in units:
        values = [v for v in unit if v is not None]
        m = len(values)
        if m < 2:
            continue
        counts = Counter(values)
        for c, nc in counts.items():
            for k, nk in counts.items():
                pairs = nc * (nk - 1) if c == k else nc * nk
                if pairs:
                    coincidence[(c, k)] += pairs / (m - 1)
    n_c: Counter[Hashable] = Counter()
    for (c, _), o in coincidence.items():
        n_c[c] += o
    n = sum(n_c.values())
    if n <= 1:
        return None
    observed = sum(o for (c, k), o in coincidence.items() if c != k)
    expected = sum(n_c[c] * n_c[k] for c in n_c for k in n_c if c != k)
    if expected == 0:
        return None  # a single category everywhere: no variation to be reliable about
    return 1 - (n - 1) * observed / expected


# --- a report over the label log ------------------------------------------------------------


@dataclass(frozen=True)
class PairAgreement:
    a: str
    b: str
    n: int  # cases both labeled
    percent: float | None
    kappa: float | None
    categories: list[str]
    matrix: list[list[int]]


@dataclass(frozen=True)
class AgreementReport:
    annotators: list[str]
    n_cases: int  # cases with at least one current label
    n_pairable: int  # cases with two or more labels
    alpha: float | None
    pairs: list[PairAgreement]

    def as_dict(self) -> dict[str, Any]:
        return {
            "annotators": self.annotators, "cases_labeled": self.n_cases, "cases_with_2plus_labels": self.n_pairable,
            "krippendorff_alpha_nominal": self.alpha,
            "pairs": [
                {"a": p.a, "b": p.b, "n": p.n, "percent_agreement": p.percent, "cohen_kappa": p.kappa,
                 "confusion": {"categories": p.categories, "matrix": p.matrix}}
                for p in self.pairs
            ],
        }


def agreement_report(ratings: Mapping[str, Mapping[str, Any]]) -> AgreementReport:
    """ratings: case id -> {annotator: label value (any JSON value)}."""
    keyed = {unit: {ann: canonical_json(v) for ann, v in by.items()} for unit, by in ratings.items()}
    annotators = sorted({ann for by in keyed.values() for ann in by})
    pairs = []
    for a, b in combinations(annotators, 2):
        both = [(by[a], by[b]) for by in keyed.values() if a in by and b in by]
        xs, ys = [x for x, _ in both], [y for _, y in both]
        cats, matrix = confusion_matrix(xs, ys)
        pairs.append(PairAgreement(a, b, len(both), percent_agreement(xs, ys), cohen_kappa(xs, ys),
                                   [_display(c) for c in cats], matrix))
    return AgreementReport(
        annotators=annotators,
        n_cases=sum(1 for by in keyed.values() if by),
        n_pairable=sum(1 for by in keyed.values() if len(by) >= 2),
        alpha=krippendorff_alpha_nominal(list(by.values()) for by in keyed.values()),
        pairs=pairs,
    )


def _display(key: Hashable) -> str:
    """A category as people read it: a JSON string shows without its quotes."""
    text = str(key)
    if text.startswith('"') and text.endswith('"'):
        return json.loads(text)
    return text


def load_agreement(db: sqlite_utils.Database, dataset_id: int) -> AgreementReport:
    """Agreement over every annotator's current labels in the dataset's label log."""
    return agreement_report(current_labels(iter_events(db, dataset_id)))
