"""Messages that thread workers post to screens ("workers post, handlers mutate").

Workers read and write SQLite on their own connection and post one of these; only the handlers,
on the app's thread, touch widgets. `token` lets a handler drop the answer to a request that a
newer one has replaced (typing in a filter starts a new page load before the last one is back).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from core.labeling.agreement import AgreementReport
from core.labeling.overview import DatasetSummary, LabelOverview
from core.labeling.session import CaseView
from core.datasets.browse import CaseRow


@dataclass
class DatasetsLoaded(Message):
    summaries: list[DatasetSummary]
    token: int


@dataclass
class DatasetDetailLoaded(Message):
    """What the label log says about one dataset, for the summary panel and the case table."""

    dataset_id: int
    overview: LabelOverview
    excluded: frozenset[str]
    token: int


@dataclass
class CasesPage(Message):
    dataset_id: int
    rows: list[CaseRow]
    has_prev: bool
    has_next: bool
    page: int
    total: int
    token: int
    focus_row: int = 0


@dataclass
class AgreementLoaded(Message):
    dataset_id: int
    report: AgreementReport


@dataclass
class ActionDone(Message):
    """A write finished: say so, and reload what it changed."""

    message: str
    reload_datasets: bool = False
    reload_cases: bool = True
    select_dataset: int | None = None
    edited_dataset: int | None = None  # cases of this dataset changed (the Label screen reloads its queue)


@dataclass
class LabelViewReady(Message):
    view: CaseView
    session: int  # which session loop answered (a dataset switch starts a new one)


@dataclass
class LabelSessionFailed(Message):
    message: str
    session: int


@dataclass
class CaseRendered(Message, bubble=False):
    """Posted once the Label screen has painted a case: tests and the bench wait for it."""

    case_id: str | None
    sequence: int
