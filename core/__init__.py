"""Assay's domain core: models, datasets, sampling, config, runner, stats. No UI imports."""

__version__ = "0.1.0"
