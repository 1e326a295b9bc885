"""The Trends screen (placeholder until it is built)."""

from __future__ import annotations

from tui.screens.placeholder import PlaceholderScreen


class TrendsScreen(PlaceholderScreen):
    MODE = "trends"
    PURPOSE = "Track quality, cost and latency across runs over time."
    MEANWHILE = "Meanwhile, `assay runs` lists every run, newest first."
