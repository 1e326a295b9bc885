"""What the Trends screen's workers post ("workers post, handlers mutate"). `token` drops answers
to a request a newer one replaced."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from core.trends.alerts import StoredAlert
from core.trends.flags import SeriesFlags, TrendKey
from tui.screens.trends.data import TrendsData


@dataclass
class TrendsReady(Message):
    data: TrendsData
    token: int


@dataclass
class FlagsReady(Message):
    """The trust flags of the series that have any (core.trends.flags.trend_flags)."""

    flags: dict[TrendKey, SeriesFlags]
    token: int


@dataclass
class Acknowledged(Message):
    alert: StoredAlert
    first: bool  # False: someone had acknowledged it already
