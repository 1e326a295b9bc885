"""What running a model in production would cost, from a run's measured tokens, its verdicts and the
models' prices: `project_costs(db, run_id, cfg, volume, ...)` -> CostProjection (`assay cost`, and
the Review and Trends screens).

Definitions (also in README "Cost projection"):
- Volume: cases per period (`10000/day`), or prompt (input) tokens per period (`50M/day`),
  converted to cases at the run's mean prompt tokens per answered case over all its models, so
  every model is priced at the same number of cases. A month is 365/12 days, a year 365 days.
- Cost per case: the model's mean input and output tokens per answered (ok) call in the run,
  cached answers included, times its prices. Prices: the model's prices in assay.toml now when it
  is still configured with the same model id (a price you set is what you will pay), else the
  prices recorded with the run, else litellm's local price map for the model id, else unknown. An
  unknown price makes every cost figure of that model unknown (None), never 0. Judge calls are
  evaluation cost, not production cost, and are left out.
- Accuracy: the pass rate incl. errors (the report's `pass_rate_incl_errors`, the figure
  `--fail-under` gates on: errors, skips and scorer errors count as failures) with its 95% Wilson
  interval. Failure rate = 1 - that pass rate.
- Cost of errors = review cost per failed case x failure rate x cases. Total cost of ownership
  (TCO) = model cost + cost of errors.
- Meets the bar: the Wilson interval's LOWER bound is at least `min_pass` (the point estimate on a
  few hundred cases is not enough evidence). The cheapest model is the one with the lowest TCO
  among those that meet the bar and have a known price.
- Frontier: a model is on the cost-vs-accuracy frontier when no other model is at least as cheap
  (cost per case) and at least as accurate (pass rate incl. errors) and strictly better on one.
  Unknown when its price or accuracy is unknown.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

import sqlite_utils

from core.common.stats import wilson_interval
from core.config.schema import ModelConfig, WorkspaceConfig
from core.errors import NotFoundError, UsageError
from core.models.prices import prices_for
from core.report.build import build_report
from core.report.types import Report
from store import runs as store_runs

DAYS_PER_PERIOD = {"day": 1.0, "month": 365 / 12, "year": 365.0}
DAYS_PER_YEAR = DAYS_PER_PERIOD["year"]
_MULTIPLIERS = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9}
_VOLUME = re.compile(r"^\s*([0-9][0-9,_]*(?:\.[0-9]+)?|\.[0-9]+)\s*([kmb]?)\s*/\s*(day|month|year)\s*$", re.IGNORECASE)

Unit = Literal["cases", "tokens"]
Period = Literal["day", "month", "year"]
PriceSource = Literal["assay.toml", "run", "price_map", "unknown"]


@dataclass(frozen=True, slots=True)
class Volume:
    """How much production traffic to price: `amount` cases or prompt tokens per `period`."""

    amount: float
    unit: Unit
    period: Period

    @property
    def per_day(self) -> float:
        return self.amount / DAYS_PER_PERIOD[self.period]

    def __str__(self) -> str:
        return f"{self.amount:,.10g} {self.unit}/{self.period}"


def parse_volume(text: str, unit: Unit) -> Volume:
    """'10000/day', '10k/day', '50M/month', '1.5b/year' (k, M, B: thousand, million, billion;
    commas allowed). Anything else, or an amount that is not above 0, is a UsageError naming
    the option."""
    match = _VOLUME.match(text)
    if not match:
        raise UsageError(f"--{unit}: expected an amount per day, month or year, like 10000/day, 50M/month or "
                         f"2.5k/year (got '{text}')")
    amount = float(match.group(1).replace(",", "").replace("_", "")) * _MULTIPLIERS[match.group(2).lower()]
    if not amount > 0 or not math.isfinite(amount):
        raise UsageError(f"--{unit}: the amount must be greater than 0 (got '{text}')")
    return Volume(amount=amount, unit=unit, period=match.group(3).lower())  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class ModelPrice:
    model_id: str | None  # the litellm id the run used (None: the run does not say and assay.toml has no such model)
    source: PriceSource
    input_per_1m: float | None  # $ per 1M input tokens
    output_per_1m: float | None


@dataclass(frozen=True, slots=True)
class ModelCost:
    """One model's projection. Money in US dollars; None = unknown (never 0)."""

    model: str
    price: ModelPrice
    answered: int  # ok calls with token counts: what the tokens per case are measured on
    input_tokens_per_case: float | None
    output_tokens_per_case: float | None
    cost_per_1k: float | None  # model cost per 1,000 cases
    graded: int  # the pass rate's denominator: scored + errors + skipped + scorer errors
    pass_rate: float | None  # pass rate incl. errors
    pass_rate_ci95: tuple[float, float] | None  # its Wilson 95% interval
    failure_rate: float | None
    error_cost_per_1k: float | None  # review cost of the failures among 1,000 cases
    tco_per_1k: float | None
    cost_per_day: float | None
    cost_per_year: float | None
    error_cost_per_day: float | None
    error_cost_per_year: float | None
    tco_per_day: float | None
    tco_per_year: float | None
    meets_bar: bool | None  # None when no bar was set
    on_frontier: bool | None  # None when its cost or accuracy is unknown


@dataclass(frozen=True, slots=True)
class CostProjection:
    run_id: str
    dataset: str
    dataset_version: int
    volume: Volume
    cases_per_day: float | None  # None: a token volume and no measured prompt tokens to convert it
    prompt_tokens_per_case: float | None  # the conversion used for a token volume
    review_cost: float  # $ per failed case
    min_pass: float | None
    models: list[ModelCost]  # the run's order
    cheapest: str | None  # the cheapest model (TCO) meeting the bar; None without a bar or when none does

    def model(self, name: str) -> ModelCost | None:
        return next((m for m in self.models if m.model == name), None)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (`assay cost --format json`); per-day figures for the volume included."""
        return dataclasses.asdict(self)


# --- prices ---------------------------------------------------------------------------------------


def _price(name: str, run_config: dict[str, Any], cfg: WorkspaceConfig) -> ModelPrice:
    ran = (run_config.get("conditions") or {}).get("models", {}).get(name) or {}
    recorded = (run_config.get("operational") or {}).get("models", {}).get(name) or {}
    current = cfg.models.get(name)
    model_id = ran.get("model") or (current.model if current else None)
    if model_id is None:
        return ModelPrice(model_id=None, source="unknown", input_per_1m=None, output_per_1m=None)
    if current is not None and current.model == model_id and current.input_price_per_1m is not None:
        chosen, label = current, "assay.toml"
    else:
        chosen = ModelConfig(model=model_id, input_price_per_1m=recorded.get("input_price_per_1m"),
                             output_price_per_1m=recorded.get("output_price_per_1m"))
        label = "run"
    source, per_in, per_out = prices_for(chosen)
    if source == "unknown" or per_in is None or per_out is None:
        return ModelPrice(model_id=model_id, source="unknown", input_per_1m=None, output_per_1m=None)
    return ModelPrice(model_id=model_id, source=label if source == "config" else "price_map",
                      input_per_1m=per_in * 1e6, output_per_1m=per_out * 1e6)


def run_prices(db: sqlite_utils.Database, run_id: str, cfg: WorkspaceConfig) -> dict[str, ModelPrice]:
    """Each of the run's models' prices (see the module docstring for which price wins). Looking a
    model up in litellm's price map imports litellm (seconds): only models without set prices do."""
    stored = store_runs.get_run(db, run_id)
    if stored is None:
        raise NotFoundError(f"no run '{run_id}'")
    models = list(stored["models"])
    return {name: _price(name, stored["config"], cfg) for name in models}


# --- the projection -------------------------------------------------------------------------------


def _times(x: float | None, factor: float | None) -> float | None:
    return None if x is None or factor is None else x * factor


def _frontier(costs: dict[str, tuple[float | None, float | None]]) -> dict[str, bool | None]:
    """name -> on the frontier (None when its cost or accuracy is unknown); costs[name] = (cost, accuracy)."""
    known = {n: ca for n, ca in costs.items() if ca[0] is not None and ca[1] is not None}

    def beaten(name: str) -> bool:
        cost, acc = known[name]
        return any(c <= cost and a >= acc and (c < cost or a > acc) for other, (c, a) in known.items() if other != name)

    return {name: (not beaten(name)) if name in known else None for name in costs}


def _check_assumptions(review_cost: float, min_pass: float | None) -> None:
    if not review_cost >= 0 or not math.isfinite(review_cost):
        raise UsageError(f"--review-cost must be 0 or more dollars per failed case (got {review_cost})")
    if min_pass is not None and not 0 <= min_pass <= 1:
        raise UsageError(f"--min-pass must be a pass rate between 0 and 1 (got {min_pass})")


def cost_projection(report: Report, prices: dict[str, ModelPrice], volume: Volume, *, review_cost: float = 0.0,
                    min_pass: float | None = None) -> CostProjection:
    """The projection from a built report and the models' prices (a screen that already holds the
    report calls this; `project_costs` builds both)."""
    _check_assumptions(review_cost, min_pass)
    measured = {model: [e for e in report.results if e.model == model and e.status == "ok"
                        and e.input_tokens is not None and e.output_tokens is not None]
                for model in report.models}
    every = [e for answered in measured.values() for e in answered]
    prompt_tokens = math.fsum(e.input_tokens for e in every) / len(every) if every else None
    if volume.unit == "cases":
        cases_per_day: float | None = volume.per_day
    else:
        cases_per_day = volume.per_day / prompt_tokens if prompt_tokens else None
    thousands_per_day = _times(cases_per_day, 1 / 1000)

    rows: list[dict[str, Any]] = []
    for model in report.models:
        answered = measured[model]
        price = prices.get(model) or ModelPrice(model_id=None, source="unknown", input_per_1m=None, output_per_1m=None)
        tokens_in = math.fsum(e.input_tokens for e in answered) / len(answered) if answered else None
        tokens_out = math.fsum(e.output_tokens for e in answered) / len(answered) if answered else None
        cost_per_1k = None
        if tokens_in is not None and price.input_per_1m is not None and price.output_per_1m is not None:
            cost_per_1k = (tokens_in * price.input_per_1m + tokens_out * price.output_per_1m) / 1000
        figures = report.figures(model)
        # The denominator of the report's pass_rate_incl_errors (core.report.build.summarize).
        graded = (figures.scored + figures.scorer_errors + figures.errors + figures.skipped) if figures else 0
        pass_rate = figures.passed / graded if figures and graded else None
        ci = wilson_interval(figures.passed, graded) if figures and graded else None
        failure_rate = None if pass_rate is None else 1 - pass_rate
        error_cost_per_1k = _times(failure_rate, review_cost * 1000)
        tco_per_1k = None if cost_per_1k is None or error_cost_per_1k is None else cost_per_1k + error_cost_per_1k
        per_day = {key: _times(value, thousands_per_day)
                   for key, value in (("cost", cost_per_1k), ("error", error_cost_per_1k), ("tco", tco_per_1k))}
        rows.append(dict(
            model=model, price=price, answered=len(answered), input_tokens_per_case=tokens_in,
            output_tokens_per_case=tokens_out, cost_per_1k=cost_per_1k, graded=graded, pass_rate=pass_rate,
            pass_rate_ci95=ci, failure_rate=failure_rate, error_cost_per_1k=error_cost_per_1k,
            tco_per_1k=tco_per_1k,
            cost_per_day=per_day["cost"], cost_per_year=_times(per_day["cost"], DAYS_PER_YEAR),
            error_cost_per_day=per_day["error"], error_cost_per_year=_times(per_day["error"], DAYS_PER_YEAR),
            tco_per_day=per_day["tco"], tco_per_year=_times(per_day["tco"], DAYS_PER_YEAR),
            meets_bar=None if min_pass is None else (ci is not None and ci[0] >= min_pass),
        ))
    frontier = _frontier({r["model"]: (r["cost_per_1k"], r["pass_rate"]) for r in rows})
    models = [ModelCost(**r, on_frontier=frontier[r["model"]]) for r in rows]
    eligible = [m for m in models if m.meets_bar and m.tco_per_1k is not None]
    cheapest = min(eligible, key=lambda m: m.tco_per_1k).model if eligible else None  # type: ignore[arg-type,return-value]
    return CostProjection(
        run_id=report.run.id, dataset=report.run.dataset, dataset_version=report.run.dataset_version,
        volume=volume, cases_per_day=cases_per_day,
        prompt_tokens_per_case=prompt_tokens if volume.unit == "tokens" else None,
        review_cost=review_cost, min_pass=min_pass, models=models, cheapest=cheapest,
    )


def project_costs(db: sqlite_utils.Database, run_id: str, cfg: WorkspaceConfig, volume: Volume, *,
                  review_cost: float = 0.0, min_pass: float | None = None) -> CostProjection:
    """The cost projection of a run at `volume` (NotFoundError for an unknown run)."""
    _check_assumptions(review_cost, min_pass)  # before any price lookup, which may import litellm
    prices = run_prices(db, run_id, cfg)
    return cost_projection(build_report(db, run_id, cfg), prices, volume, review_cost=review_cost,
                           min_pass=min_pass)
