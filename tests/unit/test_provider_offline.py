"""litellm is imported offline whichever Assay path imports it first.

A fresh process without LITELLM_LOCAL_MODEL_COST_MAP (as a user's shell has it) makes one call
through `ModelClient` to a model priced in its config, so nothing reads the price map before the
call: the request path itself imports litellm. litellm must then have loaded its packaged price
map because the variable was set, not fetched one from the network (it did, from
`provider.unlogged()`, before this test).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import asyncio, json, sys
from demo.serve import DemoServer
from core.config.schema import parse_config
from core.models.client import ModelClient
from core.models.provider import close_clients

assert "litellm" not in sys.modules

async def one(base):
    cfg = parse_config({"models": {"m": {"model": "openai/demo-fast", "api_base": base,
                                           "input_price_per_1m": 1.0, "output_price_per_1m": 2.0}}})
    try:
        return await ModelClient("m", cfg.models["m"], cfg.run).complete(
            [{"role": "user", "content": "Please cancel my subscription."}], use_cache=False)
    finally:
        await close_clients()

with DemoServer() as srv:
    out = asyncio.run(one(srv.base_url))
from litellm.litellm_core_utils.get_model_cost_map import get_model_cost_map_source_info
info = get_model_cost_map_source_info()
print(json.dumps({"status": out.status, "cost_status": out.cost_status, "source": info["source"],
                  "env_forced": info["is_env_forced"]}))
"""


def test_the_first_call_imports_litellm_with_the_offline_price_map():
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"}
    proc = subprocess.run([sys.executable, "-c", CHILD], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {"status": "ok", "cost_status": "config", "source": "local", "env_forced": True}
    assert "cost map" not in proc.stderr  # litellm's "failed to fetch remote model cost map" warnings
