"""Shared test setup: keep litellm off the network and every test away from the user's config."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("ASSAY_USER_CONFIG", os.devnull)
