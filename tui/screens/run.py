"""The Run screen (placeholder until it is built)."""

from __future__ import annotations

from tui.screens.placeholder import PlaceholderScreen


class RunScreen(PlaceholderScreen):
    MODE = "run"
    PURPOSE = "Run every candidate model on a dataset version under identical conditions."
    MEANWHILE = "Meanwhile, run models from a shell: `assay run --help`."
