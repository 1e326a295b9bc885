"""The configured models at a glance: what the Models screen's table shows, one typed row per model.

Prices come from `core.models.prices` (config, else litellm's local price map, else unknown). The
price map needs litellm, which takes seconds to import: `model_rows(..., prices=False)` answers
at once with only config prices known (price_source None = not looked up yet), and a front end
fills in the rest from a worker with `prices=True`.

Key status never reads a key into the row: only whether the named variable is set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from core.config.schema import ModelConfig, WorkspaceConfig
from core.models.prices import needs_price_map, prices_for

# set: api_key_env names a variable that is set; missing: it names one that is not;
# not_needed: a local server (api_base, no api_key_env) gets a placeholder key;
# provider: neither is configured, so litellm reads the provider's usual variable itself;
# logged: production's logged answers (`model = "logged"`), no call to make.
KeyStatus = Literal["set", "missing", "not_needed", "provider", "logged"]


@dataclass(frozen=True)
class ModelRow:
    name: str
    model: str  # the litellm id
    api_base: str | None
    price_source: str | None  # config | price_map | unknown | logged (no call); None = not looked up yet
    input_per_1m: float | None  # $ per million input tokens
    output_per_1m: float | None
    rpm: int | None
    tpm: int | None
    concurrency: int  # what the run will use
    concurrency_from_run: bool  # the model sets none: [run] concurrency applies
    api_key_env: str | None
    key_status: KeyStatus


def key_status(model: ModelConfig) -> KeyStatus:
    if model.logged_key is not None:
        return "logged"
    if model.api_key_env:
        return "set" if os.environ.get(model.api_key_env) else "missing"
    return "not_needed" if model.api_base else "provider"


def model_rows(config: WorkspaceConfig, *, prices: bool) -> list[ModelRow]:
    """One row per [models.NAME], in file order. `prices=False` never imports litellm."""
    rows = []
    for name, m in config.models.items():
        # Config prices and logged answers need no price map, hence no litellm.
        if prices or not needs_price_map(m):
            source, tok_in, tok_out = prices_for(m)
            per_in = None if tok_in is None else tok_in * 1e6
            per_out = None if tok_out is None else tok_out * 1e6
        else:
            source, per_in, per_out = None, None, None
        rows.append(ModelRow(
            name=name, model=m.model, api_base=m.api_base, price_source=source, input_per_1m=per_in,
            output_per_1m=per_out, rpm=m.rpm, tpm=m.tpm, concurrency=m.max_concurrency or config.run.concurrency,
            concurrency_from_run=m.max_concurrency is None, api_key_env=m.api_key_env, key_status=key_status(m),
        ))
    return rows
