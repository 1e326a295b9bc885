"""The Models screen (mode "models"): models and prompts of assay.toml."""

from tui.screens.models.screen import ModelsScreen

__all__ = ["ModelsScreen"]
