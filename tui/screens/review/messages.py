"""What the Review screen's workers post ("workers post, handlers mutate"). `token` drops answers
to a request a newer one replaced."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from core.labeling.calibration import CalibrationReport
from core.report.types import ContaminationFlag
from core.review.cases import CaseClass, ReviewIndex, ReviewPage
from core.review.compare import ComparisonTable, PairedVerdict
from core.review.detail import CaseDetail
from core.run.history import RunSummary


@dataclass
class IndexReady(Message):
    index: ReviewIndex
    page: ReviewPage
    counts: dict[CaseClass, int]
    text_ids: frozenset[str] | None
    token: int


@dataclass
class NoRuns(Message):
    pass


@dataclass
class PageReady(Message):
    page: ReviewPage
    counts: dict[CaseClass, int]
    text_ids: frozenset[str] | None
    token: int


@dataclass
class TableReady(Message):
    table: ComparisonTable
    contamination: dict[str, ContaminationFlag]  # model -> flag, for the models the dataset's probe suspects
    token: int


@dataclass
class JudgesReady(Message):
    """The run's judges against the experts' grades (posted only when the run has judge verdicts)."""

    calibration: CalibrationReport
    token: int


@dataclass
class PairedReady(Message):
    verdicts: list[PairedVerdict]
    token: int


@dataclass
class DetailReady(Message):
    detail: CaseDetail
    token: int


@dataclass
class RunsListed(Message):
    runs: list[RunSummary]
    purpose: str  # "run" or "baseline"


@dataclass
class Written(Message):
    """An override or a flag was stored: say so (and reload what it changed)."""

    message: str
    reload: bool
