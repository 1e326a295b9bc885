"""Pure scoring: one module per family and a registry. No UI, no DB, no litellm."""
