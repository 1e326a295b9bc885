"""What the Trends screen's workers post ("workers post, handlers mutate"). `token` drops answers
to a request a newer one replaced."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from core.trends.alerts import StoredAlert
from tui.screens.trends.data import CostInputs, TrendsData


@dataclass
class TrendsReady(Message):
    data: TrendsData
    token: int


@dataclass
class CostReady(Message):
    run_id: str
    inputs: CostInputs


@dataclass
class Acknowledged(Message):
    alert: StoredAlert
    first: bool  # False: someone had acknowledged it already
