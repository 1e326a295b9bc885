"""The Run screen (mode "run"): choose, estimate, start, watch, cancel and resume runs."""

from tui.screens.run.screen import RunScreen

__all__ = ["RunScreen"]
