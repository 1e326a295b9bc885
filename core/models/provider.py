"""litellm, loaded the way Assay needs it: once, lazily, offline and quiet; its clients closed at the end.

- The import is lazy: it takes seconds and ~200 MB, and commands that never call a model
  (`assay --help`, the TUI's screens) must not pay for it.
- LITELLM_LOCAL_MODEL_COST_MAP=True is set before the import; otherwise litellm fetches its price
  map from the network.
- Its OpenAI-family requests go through `core.models.transport`, whose responses are timed by
  the kernel rather than by the event loop.
- `close_clients()` is awaited at the end of every run: litellm caches aiohttp/httpx clients that
  otherwise warn "Unclosed client session" at exit; the transport's connections close too.
  Between those, litellm reuses one client per
  api_base and key from its in-memory cache (measured: no client is built per call).
- `unlogged()` wraps each request: litellm runs its success handler (standard logging payload, a
  second cost calculation, a logging-worker task) on every call even with no callback registered.
  Assay registers none, so that work is pure CPU on the event loop; see the function for how.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from core.models import transport

# The key sent to a model with an api_base and no api_key_env: litellm's openai/* provider
# refuses to call without one, and local servers ignore it.
NO_KEY = "assay-no-key"

_litellm: Any = None


def litellm_module() -> Any:
    """Import litellm once, offline and quiet (no debug banners on stdout, no telemetry)."""
    global _litellm
    if _litellm is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import logging

        import litellm

        litellm.suppress_debug_info = True
        litellm.telemetry = False
        # Its loggers print exception text (which can carry request details) to stderr.
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        transport.install(litellm)
        _litellm = litellm
    return _litellm


@contextlib.contextmanager
def unlogged() -> Iterator[None]:
    """Run the request inside this block without litellm's success/failure logging.

    litellm has no public switch for it: its handlers run whatever `litellm.callbacks` holds.
    Its own nested calls (RAG, agentic loops) skip them through the `is_internal_call` context
    variable, which `internal_sub_call()` sets for the current task only; Assay uses the same
    mechanism. Results, exceptions and retries are unchanged (exceptions are still raised;
    only the logging of them is skipped). A litellm without it is called as before.
    """
    litellm_module()  # the first import must go through it (offline price map), not the line below
    try:
        from litellm._internal_context import internal_sub_call
    except ImportError:  # an older or newer litellm: keep its logging rather than guess
        yield
        return
    with internal_sub_call():
        yield


async def close_clients() -> None:
    """Close litellm's cached aiohttp/httpx clients (no "Unclosed client session" at exit)."""
    if _litellm is None:
        return
    closer = getattr(_litellm, "close_litellm_async_clients", None)
    if closer is not None:
        await closer()
    # The cache keeps the closed clients; drop them so a later event loop (a second run in the
    # same process, e.g. the TUI) builds fresh ones instead of reusing a closed session.
    cache = getattr(_litellm, "in_memory_llm_clients_cache", None)
    if cache is not None and hasattr(cache, "flush_cache"):
        cache.flush_cache()
    await transport.close()

