"""litellm, loaded the way Assay needs it: once, lazily, offline and quiet; its clients closed at the end.

- The import is lazy: it takes seconds and ~200 MB, and commands that never call a model
  (`assay --help`, the TUI's screens) must not pay for it.
- LITELLM_LOCAL_MODEL_COST_MAP=True is set before the import; otherwise litellm fetches its price
  map from the network. The import runs with the garbage collector paused and freezes what it
  built (`_collector_paused`): a quarter of its time was the collector's.
- Its OpenAI-family requests go through `core.models.transport`, whose responses are timed by
  the kernel rather than by the event loop.
- Model calls are made inside `model_calls()`, which closes litellm's cached aiohttp/httpx clients
  once the process's last loop calling models leaves (otherwise "Unclosed client session" at
  exit); the transport's connections close too. Until then, litellm reuses one client per
  api_base and key from its in-memory cache (measured: no client is built per call).
- `unlogged()` wraps each request: litellm runs its success handler (standard logging payload, a
  second cost calculation, a logging-worker task) on every call even with no callback registered,
  and prices every response for its hidden params. Assay registers no callback and never reads
  litellm's price of a call (costs are Assay's own, `core.models.prices`), so that work is pure CPU
  on the event loop; see the function for how.
- `inline_setup()` wraps each OpenAI-family request: litellm's `acompletion` sends its per-call
  set-up (`completion()`: ≈1 ms of CPU, no I/O for these providers) to the loop's thread pool and
  waits for it; see the function for why Assay runs it on the loop instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import gc
import inspect
import os
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from core.models import transport

# The key sent to a model with an api_base and no api_key_env: litellm's openai/* provider
# refuses to call without one, and local servers ignore it.
NO_KEY = "assay-no-key"

_litellm: Any = None
_import_s: float | None = None  # how long this process's import of it took
# Set inside `unlogged()`: litellm's per-call cost calculation returns None (unknown) there.
_UNPRICED: contextvars.ContextVar[bool] = contextvars.ContextVar("assay_unpriced", default=False)
_pricing_wrapped = False  # `_skip_cost_inside_unlogged` could wrap litellm's calculator


def litellm_module() -> Any:
    """Import litellm once, offline and quiet (no debug banners on stdout, no telemetry)."""
    global _litellm, _import_s
    if _litellm is None:
        t0 = time.perf_counter()
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import logging

        with _collector_paused():
            import litellm

        litellm.suppress_debug_info = True
        litellm.telemetry = False
        # Its loggers print exception text (which can carry request details) to stderr.
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        transport.install(litellm)
        _skip_cost_inside_unlogged()
        _litellm = litellm
        _import_s = time.perf_counter() - t0
    return _litellm


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the import, then freeze what it built.

    The import allocates ≈530,000 objects that live as long as the process, and the collector
    traverses them again at every collection it triggers on the way: measured here, the import
    takes 1.85 s with the collector and 1.33 s without. Re-enabling it without the freeze would
    pay most of that back (the next collections took 0.45 s), so every object alive at the end is
    moved to the permanent generation (`gc.freeze`), which collections skip; that also keeps a
    worker's forks from copying those objects' pages when a collection would touch them. The
    price: an object alive at that moment that later becomes unreachable only through a cycle is
    never freed. Everything else is freed as before (reference counting, later objects' cycles).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def import_seconds() -> float | None:
    """How long this process took to import litellm; None while it has not."""
    return _import_s


def _skip_cost_inside_unlogged() -> None:
    """Make litellm's `Logging.response_cost_calculator` answer None inside `unlogged()`.

    litellm prices every response for its `_hidden_params` (≈15% of its CPU per call, profiled in
    a worker: model-info lookup, token-type breakdown), a figure Assay discards. None is what the
    calculator itself returns when it cannot price a call, and every caller of it in litellm
    handles that. Outside `unlogged()` (anyone else's use of litellm in the process) it is
    unchanged; a litellm without this method is left as it is.
    """
    global _pricing_wrapped
    try:
        from litellm.litellm_core_utils.litellm_logging import Logging
    except ImportError:
        return
    priced = getattr(Logging, "response_cost_calculator", None)
    if priced is None:
        return
    _pricing_wrapped = True
    if getattr(priced, "assay_skips", False):
        return

    def response_cost_calculator(self: Any, *args: Any, **kwargs: Any) -> Any:
        return None if _UNPRICED.get() else priced(self, *args, **kwargs)

    response_cost_calculator.assay_skips = True  # type: ignore[attr-defined]
    Logging.response_cost_calculator = response_cost_calculator


def litellm_prices_this_call() -> bool:
    """Whether litellm prices the request made now: outside `unlogged()`, or with a litellm whose
    calculator could not be wrapped. Only then are prices worth handing to it per call: litellm
    builds and validates a model-info entry from them on every call (measured: 1.64 ms of CPU per
    call with them, 1.51 without, when its pricing is skipped anyway)."""
    return not (_pricing_wrapped and _UNPRICED.get())


@contextlib.contextmanager
def unlogged() -> Iterator[None]:
    """Run the request inside this block without litellm's success/failure logging or its own
    pricing of the call (see `_skip_cost_inside_unlogged`).

    litellm has no public switch for it: its handlers run whatever `litellm.callbacks` holds.
    Its own nested calls (RAG, agentic loops) skip them through the `is_internal_call` context
    variable, which `internal_sub_call()` sets for the current task only; Assay uses the same
    mechanism. Results, exceptions and retries are unchanged (exceptions are still raised;
    only the logging of them is skipped). A litellm without it is called as before.
    """
    litellm_module()  # the first import must go through it (offline price map), not the line below
    token = _UNPRICED.set(True)
    try:
        with _internal_sub_call():
            yield
    finally:
        _UNPRICED.reset(token)


def _internal_sub_call() -> contextlib.AbstractContextManager[Any]:
    try:
        from litellm._internal_context import internal_sub_call
    except ImportError:  # an older or newer litellm: keep its logging rather than guess
        return contextlib.nullcontext()
    return internal_sub_call()


# litellm providers whose `completion()` set-up only computes (no credential fetch, no file read).
_PURE_SETUP_PROVIDERS = frozenset({"openai"})
# Set inside `inline_setup()`, cleared by the first set-up it runs inline.
_INLINE: contextvars.ContextVar[bool] = contextvars.ContextVar("assay_inline_setup", default=False)
_inline_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def pure_setup(model: str, api_base: str | None) -> bool:
    """Whether litellm's per-call set-up of this model's requests does no I/O (OpenAI-family
    providers; not azure/, whose set-up can fetch an Entra ID token)."""
    try:
        provider = litellm_module().get_llm_provider(model=model, api_base=api_base)[1]
    except Exception:  # noqa: BLE001 - litellm cannot place it: the request will say why; keep the thread
        return False
    return provider in _PURE_SETUP_PROVIDERS


class _InlineSetupPool(concurrent.futures.ThreadPoolExecutor):
    """An event loop's default executor: a thread pool for everything, except the one set-up
    `inline_setup()` marked, which runs at once on the calling (loop) thread."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        # litellm submits `functools.partial(context.run, partial(completion, ...))`; anything else
        # (aiohttp's DNS lookup, another library's blocking call) keeps its thread.
        if (_INLINE.get() and not args and not kwargs and isinstance(fn, functools.partial)
                and isinstance(getattr(fn.func, "__self__", None), contextvars.Context)):
            _INLINE.set(False)
            future: concurrent.futures.Future[Any] = concurrent.futures.Future()
            try:
                future.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed over like a thread pool would
                future.set_exception(exc)
            return future
        return super().submit(fn, *args, **kwargs)


@contextlib.contextmanager
def inline_setup() -> Iterator[None]:
    """Run litellm's set-up of the request started inside this block on the event loop, not on a
    thread. Only for models `pure_setup()` accepts: it must not block the loop.

    Why: the hop costs more than the work. The pool's thread and the loop take turns at the GIL,
    and a thread waiting for it gets it only at the 5 ms switch interval, so on a busy loop each
    call's set-up waits behind the others' work while the call holds its concurrency slot.
    Measured (one process, `openai/` model, `assay serve` at 50 ms, concurrency 16): 160-164 calls/s
    on the thread, 193-197 inline. The set-up itself is unchanged: same function, same copied
    context, its exceptions raised by the same `await`.
    """
    loop = asyncio.get_running_loop()
    if loop not in _inline_loops:  # any earlier default pool stays alive for what it runs
        loop.set_default_executor(_InlineSetupPool(thread_name_prefix="assay-default"))
        _inline_loops.add(loop)
    token = _INLINE.set(True)
    try:
        yield
    finally:
        _INLINE.reset(token)


# Event loops of this process inside `model_calls()`, with how many users each: the app runs a
# run, a judge, a Models-screen probe or a contamination check on loops of their own, at once.
_loop_users: dict[asyncio.AbstractEventLoop, int] = {}
_loop_users_lock = threading.Lock()  # the loops run on different threads


@contextlib.asynccontextmanager
async def model_calls() -> AsyncIterator[None]:
    """Where model calls are made on the running loop; on the way out, close the clients they used.

    litellm's clean-up (`close_clients`) closes the cached clients of every event loop in the
    process: a probe that ran it while a run was live on another loop cut that run's requests to
    providers served by litellm's own HTTP handler (`hosted_vllm/`, Anthropic, Gemini: "Server
    disconnected"). So only the last loop to leave closes them all; a loop that leaves while
    others still call models closes its own connections only, and its litellm clients wait for
    that last clean-up.
    """
    loop = asyncio.get_running_loop()
    with _loop_users_lock:
        _loop_users[loop] = _loop_users.get(loop, 0) + 1
    try:
        yield
    finally:
        with _loop_users_lock:
            _loop_users[loop] -= 1
            if not _loop_users[loop]:
                del _loop_users[loop]
            loop_done, process_done = loop not in _loop_users, not _loop_users
        if process_done:
            await close_clients()
        elif loop_done:
            await _close_loop_clients()
            await transport.close()


async def _close_loop_clients() -> None:
    """Close and drop the clients litellm cached for the running loop only. Its cache keys each
    client by event loop (`update_cache_key_with_event_loop`); a litellm without that has none to
    tell apart, and its clients wait for `close_clients`."""
    cache = getattr(_litellm, "in_memory_llm_clients_cache", None)
    scoped = getattr(cache, "update_cache_key_with_event_loop", None)
    suffix = scoped("") if scoped is not None else ""
    if not suffix:
        return
    for key in [k for k in getattr(cache, "cache_dict", {}) if k.endswith(suffix)]:
        client = cache.cache_dict.get(key)
        closer = getattr(client, "close", None) or getattr(client, "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):  # as litellm's own clean-up: closing is best effort
                closing = closer()  # a sync client's close() returns None
                if inspect.isawaitable(closing):
                    await closing
        cache.delete_cache(key)


async def close_clients() -> None:
    """Close litellm's cached aiohttp/httpx clients, every loop's (no "Unclosed client session" at
    exit). Only for a process with one loop calling models; elsewhere `model_calls()` decides."""
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

