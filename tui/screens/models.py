"""The Models screen (placeholder until it is built)."""

from __future__ import annotations

from tui.screens.placeholder import PlaceholderScreen


class ModelsScreen(PlaceholderScreen):
    MODE = "models"
    PURPOSE = "Choose and configure the candidate models to compare."
    MEANWHILE = "Meanwhile, models are set in assay.toml under [models.NAME]."
