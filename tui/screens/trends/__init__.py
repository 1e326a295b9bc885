"""The Trends screen (package: screen, data loading, rendering, messages)."""

from tui.screens.trends.screen import TrendsScreen

__all__ = ["TrendsScreen"]
