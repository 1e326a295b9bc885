"""The Review screen (placeholder until it is built)."""

from __future__ import annotations

from tui.screens.placeholder import PlaceholderScreen


class ReviewScreen(PlaceholderScreen):
    MODE = "review"
    PURPOSE = "Review outputs side by side with scores and ground truth."
    MEANWHILE = "Meanwhile, `assay report RUN_ID` reports a run in the shell."
