"""What a run will cost before it starts: calls, tokens, dollars and time, per model.

- Input tokens: every prompt is rendered as the run would render it (core.config.prompts) and
  measured with the estimate the tpm limiter paces by (core.models.client.estimate_prompt_tokens),
  so the screen and the limiter never disagree.
- The cache: with `[run] cache` on, a call whose request the response cache answers (keyed as the
  run keys it, `core.models.client.request_hash`) is counted as cached: no tokens, cost or time.
- Output tokens: `max_tokens` x calls is the upper bound; when an earlier run of the same dataset
  called the model, its measured mean output tokens give the expected figure.
- Cost: from prices (core.models.prices): config prices, else litellm's price map, else unknown.
  Unknown stays None, never 0. The price map needs litellm (seconds to import): `prices=False`
  answers at once with config prices only (price_source None = not looked up yet).
- Duration: each model's rate is the tightest of its rpm, its tpm (at the limiter's tokens per
  call) and, when an earlier run measured its p50 latency, concurrency / latency; the shared
  concurrency bounds all models together, and so does the client's own pace
  (`core.run.workers.client_calls_s`: a fast local model at a high concurrency is sent no faster
  than the client's CPU allows). With neither limits nor a measured latency the duration is
  unknown (None): nothing honest bounds it.
- Start-up: what the run pays before its calls go, from the newest run that paid one the same way
  (`runs.startup_s`): worker processes importing litellm (a run with workers, decided as the run
  will decide it), or this process's own import of litellm (a run without, while this process has
  not imported it yet; 0 once it has, or when the cache answers every call). None when no such
  run was measured yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from core.config.prompts import PromptError, render_messages
from core.config.schema import ModelConfig, WorkspaceConfig, model_params, model_stream
from core.datasets.browse import dataset_id
from core.errors import ConfigError, NotFoundError, UsageError
from core.models.client import estimate_prompt_tokens, request_hash
from core.models.prices import needs_price_map, prices_for
from core.models.provider import import_seconds
from core.run.history import Measured, measured_figures
from core.run.plan import RunRequest, workers_for
from core.run.workers import client_calls_s
from store import datasets as store_ds
from store import runs as store_runs

@dataclass(frozen=True, slots=True)
class ModelEstimate:
    model: str
    calls: int
    input_tokens: int  # of the calls to send (the cache answers the others)
    max_tokens: int | None  # per call; None = the provider's default (no bound)
    concurrency: int  # what this model will use (its own limit within the run's)
    rpm: int | None
    tpm: int | None
    measured: Measured | None
    price_source: str | None  # config | price_map | unknown | logged; None = not looked up (prices=False)
    input_price: float | None  # $ per token
    output_price: float | None
    cached: int = 0  # calls the response cache answers: no tokens, no cost, no time
    logged: bool = False  # answers production logged (`model = "logged"`): no call at all

    @property
    def sent(self) -> int:
        return 0 if self.logged else self.calls - self.cached

    @property
    def output_tokens_max(self) -> int | None:
        return None if self.max_tokens is None else self.max_tokens * self.sent

    @property
    def output_tokens_expected(self) -> int | None:
        if self.measured is None or self.measured.mean_output_tokens is None:
            return None
        return round(self.measured.mean_output_tokens * self.sent)

    def _cost(self, output_tokens: int | None) -> float | None:
        if self.sent == 0:  # nothing sent (all cached, or logged answers) costs nothing, price or not
            return 0.0
        if self.input_price is None or self.output_price is None or output_tokens is None:
            return None
        return self.input_tokens * self.input_price + output_tokens * self.output_price

    @property
    def cost_max_usd(self) -> float | None:
        """Input plus max_tokens on every call; None when a price or the bound is unknown."""
        return self._cost(self.output_tokens_max)

    @property
    def cost_expected_usd(self) -> float | None:
        """Input plus the measured mean output; None without a measurement or a price."""
        return self._cost(self.output_tokens_expected)

    @property
    def rate_per_s(self) -> float | None:
        """Calls per second this model can sustain on its own; None when nothing bounds it."""
        rates = []
        if self.rpm:
            rates.append(self.rpm / 60)
        if self.tpm and self.sent:
            per_call = self.input_tokens / self.sent + (self.max_tokens or 0)  # what the limiter reserves
            rates.append(self.tpm / 60 / max(1.0, per_call))
        if self.measured is not None and self.measured.latency_p50_ms:
            rates.append(self.concurrency / (self.measured.latency_p50_ms / 1000))
        return min(rates) if rates else None

    @property
    def duration_s(self) -> float | None:
        if self.sent == 0:  # nothing sent (all cached, or logged answers) costs nothing, price or not
            return 0.0
        rate = self.rate_per_s
        return None if rate is None else self.sent / rate


@dataclass(frozen=True, slots=True)
class RunEstimate:
    dataset: str
    dataset_version: int | None  # None = the current content
    cases: int  # not excluded
    repeat: int
    prompt: str
    concurrency: int  # shared by every model of the run
    models: tuple[ModelEstimate, ...]
    workers: int = 1  # processes the requests will be sent from (1: this one)
    startup_s: float | None = None  # before the calls go; None = not measured yet

    @property
    def calls(self) -> int:
        return sum(m.calls for m in self.models)

    @property
    def cached(self) -> int:
        return sum(m.cached for m in self.models)

    @property
    def input_tokens(self) -> int:
        return sum(m.input_tokens for m in self.models)

    @property
    def cost_max_usd(self) -> float | None:
        return _total(m.cost_max_usd for m in self.models)

    @property
    def cost_expected_usd(self) -> float | None:
        return _total(m.cost_expected_usd for m in self.models)

    @property
    def duration_s(self) -> float | None:
        """The slowest model, or the shared concurrency when it is the tighter bound."""
        if not self.models:
            return 0.0
        per_model = [m.duration_s for m in self.models]
        if any(d is None for d in per_model):
            return None
        slowest = max(d for d in per_model if d is not None)
        busy_s = [m.sent * m.measured.latency_p50_ms / 1000 for m in self.models
                  if m.measured is not None and m.measured.latency_p50_ms]
        shared = sum(busy_s) / self.concurrency if len(busy_s) == len(self.models) else 0.0
        return max(slowest, shared, self.client_s)

    @property
    def client_calls_s(self) -> float:
        """The client's own pace (calls per second) from this run's worker processes."""
        return client_calls_s(self.workers)

    @property
    def client_s(self) -> float:
        """How long the client itself needs to send the calls, at its own pace."""
        return sum(m.sent for m in self.models) / self.client_calls_s

    @property
    def wall_s(self) -> float | None:
        """Start-up plus the calls; None when either is unknown."""
        calls = self.duration_s
        return None if calls is None or self.startup_s is None else self.startup_s + calls


def _total(values: Iterable[float | None]) -> float | None:
    """A sum that is unknown when any part is unknown."""
    out = 0.0
    for value in values:
        if value is None:
            return None
        out += value
    return out


def _cases(db: sqlite_utils.Database, dataset: str, version: int | None) -> list[dict[str, Any]]:
    ds_id = dataset_id(db, dataset)
    if version is None:
        return [c.as_case_dict() for c in store_ds.iter_cases(db, ds_id) if not c.excluded]
    row = store_ds.get_version(db, ds_id, version)
    if row is None:
        raise NotFoundError(f"dataset '{dataset}' has no version {version}")
    return [c for c in store_ds.iter_version_cases(db, row["id"]) if not c.get("excluded")]


def _to_send(db: sqlite_utils.Database, model: ModelConfig, params: dict[str, Any], stream: bool,
             messages: list[list[dict[str, Any]]], repeat: int) -> list[tuple[int, int]]:
    """The (case index, repeat) calls the response cache does not answer: keyed as the run keys them
    (two cases rendering the same request are two calls, one key)."""
    keyed = [(request_hash(model, params, stream, m, r), (i, r)) for r in range(repeat) for i, m in enumerate(messages)]
    hits = store_runs.cached(db, list({key for key, _ in keyed}))
    return [call for key, call in keyed if key not in hits]


def estimate_run(db: sqlite_utils.Database, cfg: WorkspaceConfig, *, dataset: str, models: Sequence[str],
                 version: int | None = None, prompt: str | None = None, repeat: int | None = None,
                 concurrency: int | None = None, prices: bool = True) -> RunEstimate:
    """The estimate for running `models` on `dataset` (its current content, or `version`).

    Raises NotFoundError (dataset, version), ConfigError (unknown model or prompt), PromptError
    (a case the prompt cannot render), UsageError (repeat < 1). `prices=False` never imports litellm.
    """
    for name in models:
        if name not in cfg.models:
            raise ConfigError(f"unknown model '{name}'")
    prompt_name = prompt or cfg.run.prompt
    prompt_cfg = cfg.prompt(prompt_name)
    repeat = cfg.run.repeat if repeat is None else repeat
    if repeat < 1:
        raise UsageError("repeat must be at least 1")
    concurrency = concurrency or cfg.run.concurrency
    cases = _cases(db, dataset, version)
    try:
        messages = [render_messages(prompt_cfg, case) for case in cases]
    except PromptError as exc:
        raise PromptError(f"prompt '{prompt_name}': {exc.message}") from None
    tokens = [estimate_prompt_tokens(m) for m in messages]
    measured = measured_figures(db, dataset, models) if cases and models else {}
    out = []
    for name in models:
        model = cfg.models[name]
        source, price_in, price_out = None, None, None
        logged = model.logged_key is not None
        if prices or not needs_price_map(model):  # config prices and logged answers need no price map
            source, price_in, price_out = prices_for(model)
        params = model_params(model, cfg.run)
        if logged:
            sent: list[tuple[int, int]] = []
        elif cfg.run.cache:
            sent = _to_send(db, model, params, model_stream(model, cfg.run), messages, repeat)
        else:
            sent = [(i, r) for r in range(repeat) for i in range(len(messages))]
        out.append(ModelEstimate(
            model=name, calls=len(cases) * repeat, cached=0 if logged else len(cases) * repeat - len(sent),
            input_tokens=sum(tokens[i] for i, _ in sent), max_tokens=params.get("max_tokens"),
            concurrency=min(concurrency, model.max_concurrency or concurrency), rpm=model.rpm, tpm=model.tpm,
            measured=measured.get(name), price_source=source, input_price=price_in, output_price=price_out,
            logged=logged,
        ))
    workers = workers_for(db, cfg, RunRequest(dataset=dataset, models=list(models), version=version,
                                              repeat=repeat, concurrency=concurrency), measured)
    if workers > 1:  # they start (and import litellm) whatever the cache answers
        startup = store_runs.newest_startup(db, workers=True)
    elif import_seconds() is not None or all(m.sent == 0 for m in out):
        startup = 0.0  # litellm is imported once per process, and only for a call that is sent
    else:
        startup = store_runs.newest_startup(db, workers=False)
    return RunEstimate(dataset=dataset, dataset_version=version, cases=len(cases), repeat=repeat,
                       prompt=prompt_name, concurrency=concurrency, models=tuple(out), workers=workers,
                       startup_s=startup)
