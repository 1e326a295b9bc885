"""The Review screen (package: screen, dialogs, rendering, messages)."""

from tui.screens.review.screen import ReviewScreen

__all__ = ["ReviewScreen"]
