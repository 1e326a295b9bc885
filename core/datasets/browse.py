"""Browsing a dataset: resolve its name, page through its cases by keyset, count and filter them.

Pages are read by `ord` (import order), never by OFFSET, so the 500th page costs what the first
does. `CaseRow` and `CaseFilter` are the store's row and filter types, re-exported here as the
core-level types the front ends use (they never import `store`).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from core.errors import NotFoundError, UsageError
from store import datasets as store_ds
from store.datasets import CaseFilter, CaseRow

__all__ = ["CaseFilter", "CasePage", "CaseRow", "count_cases", "dataset_id", "excluded_case_ids", "page"]


def dataset_id(db: sqlite_utils.Database, name: str) -> int:
    try:
        return store_ds.dataset_id(db, name)
    except store_ds.DatasetMissing:
        raise NotFoundError(f"no dataset named {name!r} (see `assay datasets`)") from None


@dataclass(frozen=True)
class CasePage:
    cases: list[CaseRow]  # in import order
    more: bool  # more matching cases lie beyond this page, in the direction it was read

    @property
    def next_after(self) -> int | None:
        """For a page read forwards: pass as `after` for the next page; None on the last page."""
        return self.cases[-1].ord if self.more and self.cases else None


def page(
    db: sqlite_utils.Database, ds_id: int, *, after: int = -1, before: int | None = None, limit: int = 50,
    flt: CaseFilter | None = None,
) -> CasePage:
    """Up to `limit` cases matching `flt` after the case at ord `after` or, with `before`, the ones
    just before the case at ord `before` (still returned in import order)."""
    if limit < 1:
        raise UsageError("--limit must be at least 1")
    if before is not None:
        rows = store_ds.page_cases(db, ds_id, before_ord=before, limit=limit + 1, flt=flt)
        return CasePage(rows[-limit:], len(rows) > limit)
    rows = store_ds.page_cases(db, ds_id, after_ord=after, limit=limit + 1, flt=flt)
    return CasePage(rows[:limit], len(rows) > limit)


def count_cases(db: sqlite_utils.Database, ds_id: int, flt: CaseFilter | None = None) -> int:
    return store_ds.count_cases(db, ds_id, flt)


def excluded_case_ids(db: sqlite_utils.Database, ds_id: int) -> frozenset[str]:
    """The ids of the cases excluded from runs (they stay in the dataset and its versions)."""
    return store_ds.excluded_case_ids(db, ds_id)
