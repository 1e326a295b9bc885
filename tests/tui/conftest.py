"""Fixtures of the Pilot tests (helpers live in tui_helpers.py)."""

from __future__ import annotations

import pytest
from tui_helpers import seed, sentiment_cases

from core.workspace import Workspace


@pytest.fixture
def reviews(tmp_path) -> Workspace:
    return seed(tmp_path / "ws", sentiment_cases(20))
