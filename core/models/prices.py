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


# litellm's cost for a model with no known price: a nominal, non-zero figure. litellm prices
# every response itself (Assay never reads that figure); without prices it searches its map and
# then fallback generalisations of the model name on every call, and at $0 it runs a zero-cost
# diagnosis that searches again.
_NOMINAL_PER_TOKEN = 1e-9


def litellm_price_kwargs(input_per_token: float | None, output_per_token: float | None) -> dict[str, float]:
    """The per-call prices handed to litellm (`input_cost_per_token`, `output_cost_per_token`) so its
    own cost calculation, whose result Assay discards, never searches its map. Handed over only
    where that calculation runs (`core.models.provider.litellm_prices_this_call`).

    Per call rather than `litellm.register_model()`: registering writes into litellm's global
    price map, which `price_map_entry` reads, so an unknown model registered at any price would
    stop being unknown (cost NULL) for every later client in the process.
    """
    if input_per_token is None or output_per_token is None or not (input_per_token or output_per_token):
        input_per_token = output_per_token = _NOMINAL_PER_TOKEN
    return {"input_cost_per_token": input_per_token, "output_cost_per_token": output_per_token}


Prices = tuple[str, float | None, float | None]  # (cost source, $ per input token, $ per output token)


def needs_price_map(model: ModelConfig) -> bool:
    """Whether pricing this model reads litellm's price map (and so imports litellm); never for
    logged answers, which cost nothing known."""
    return model.logged_key is None and (model.input_price_per_1m is None or model.output_price_per_1m is None)


def prices_for(model: ModelConfig) -> Prices:
    """(cost source, $ per input token, $ per output token)."""
    if model.logged_key is not None:
        return "logged", None, None  # production's answers: no call, so no price to apply
    if not needs_price_map(model):
        assert model.input_price_per_1m is not None and model.output_price_per_1m is not None
        return "config", model.input_price_per_1m / 1e6, model.output_price_per_1m / 1e6
    entry = price_map_entry(model.model)
    if entry is not None:
        return "price_map", float(entry["input_cost_per_token"]), float(entry["output_cost_per_token"])
    return "unknown", None, None
