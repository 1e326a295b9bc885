"""What a model's tokens cost: the model's own config prices when set (a user's negotiated price
wins), else litellm's local price map when it knows the model, else unknown (NULL, never 0)."""

from __future__ import annotations

from typing import Any

from core.config.schema import ModelConfig
from core.models.provider import litellm_module


def price_map_entry(model_id: str) -> dict[str, Any] | None:
    """litellm's local price-map entry for a model id (with or without its provider prefix)."""
    cost_map = litellm_module().model_cost
    entry = cost_map.get(model_id)
    if entry is None and "/" in model_id:
        provider, bare = model_id.split("/", 1)
        candidate = cost_map.get(bare)
        if candidate is not None and candidate.get("litellm_provider") == provider:
            entry = candidate
    if entry and entry.get("input_cost_per_token") is not None and entry.get("output_cost_per_token") is not None:
        return entry
    return None


def prices_for(model: ModelConfig) -> tuple[str, float | None, float | None]:
    """(cost source, $ per input token, $ per output token)."""
    if model.input_price_per_1m is not None and model.output_price_per_1m is not None:
        return "config", model.input_price_per_1m / 1e6, model.output_price_per_1m / 1e6
    entry = price_map_entry(model.model)
    if entry is not None:
        return "price_map", float(entry["input_cost_per_token"]), float(entry["output_cost_per_token"])
    return "unknown", None, None
