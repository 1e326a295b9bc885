"""The cost projection (core.trends.costs) as the Trends and Review screens show it.

A screen loads a run's cost inputs once, in a worker (`load_cost_inputs`: the report without
pairwise statistics, and the models' prices), and recomputes the projection on the screen with
`core.trends.costs.cost_projection` whenever the user changes the volume, the review cost or the
bar. `cost_panel` is the compact panel beside the Trends chart; `cost_table` the fuller
cost-vs-accuracy table of Review's cost dialog. Unknown prices read "unknown", never $0. Model
and dataset names go through `tui.render.plain`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils
from rich.text import Text
from textual.message import Message

from core.common.figures import money, pct, pct_range
from core.config.schema import WorkspaceConfig
from core.report.build import build_report
from core.report.types import Report
from core.trends.costs import CostProjection, ModelCost, ModelPrice, run_prices
from tui.render import plain

DEFAULT_VOLUME = "10000/day"
DEFAULT_BAR = 0.9
BAR_HINT = "The bar is a pass rate: 0.9 or 90%."
FRONTIER_NOTE = "◆ frontier: no other model is cheaper and more accurate"


@dataclass(frozen=True, slots=True)
class CostInputs:
    """A run's report (without pairwise statistics) and its models' prices: the projection itself
    is recomputed on the screen when the volume or the bar changes."""

    report: Report
    prices: dict[str, ModelPrice]


def load_cost_inputs(db: sqlite_utils.Database, run_id: str, cfg: WorkspaceConfig) -> CostInputs:
    """For a worker: prices of models without set prices come from litellm's map (imports it)."""
    return CostInputs(build_report(db, run_id, cfg, pairwise=False), run_prices(db, run_id, cfg))


@dataclass
class CostReady(Message):
    """A cost worker's answer ("workers post, handlers mutate")."""

    run_id: str
    inputs: CostInputs


def parse_bar(text: str) -> float | None:
    """'0.9' or '90%' -> 0.9; empty -> None (no bar). ValueError(BAR_HINT) for anything else."""
    text = text.strip()
    if not text:
        return None
    try:
        bar = float(text.rstrip("%").strip()) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise ValueError(BAR_HINT) from None
    if not 0 <= bar <= 1:
        raise ValueError(BAR_HINT)
    return bar


def short_money(x: float | None) -> str:
    """Large sums for narrow columns: $73, $26.7k, $9.7M; 'unknown' for an unknown cost."""
    if x is None:
        return "unknown"
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if x >= limit:
            return f"${x / limit:,.1f}{suffix}"
    return f"${x:,.0f}" if x >= 10 or x == 0 else money(x)


def _name(model: str, width: int) -> str:
    return plain(model, single_line=True, max_len=width).plain.ljust(width)[:width]


def _marks(out: Text, m: ModelCost, p: CostProjection, theme: dict[str, str]) -> None:
    if m.model == p.cheapest:
        out.append(" ★", style=f"bold {theme['success']}")
    if m.on_frontier:
        out.append(" ◆", style=theme["accent"])


def _cheapest_line(p: CostProjection) -> Text:
    """Empty without a bar."""
    if p.cheapest:
        out = Text("★ cheapest meeting the bar: ", style="dim")
        out.append(plain(p.cheapest, single_line=True, max_len=24, style="bold"))
        return out
    if p.min_pass is not None:
        return Text("★ no model meets the bar (CI lower bound)", style="dim")
    return Text("")


def cost_panel(p: CostProjection, theme: dict[str, str]) -> Text:
    """The compact panel (Trends): $/1k, $/year and pass rate per model, in the run's order.
    `theme`: the app's theme variables (Rich styles take colours, not CSS variables)."""
    out = Text("Cost · ", style="bold")
    out.append(plain(p.dataset, single_line=True, max_len=24, style="bold"))
    out.append(f" · {p.run_id}\n", style="dim")
    bar = "none" if p.min_pass is None else pct(p.min_pass, 0)
    out.append(f"{p.volume} (v) · bar {bar} (n)\n", style="dim")
    out.append(f"{'model':<12} {'$/1k':>9} {'$/year':>11} {'pass':>6}\n", style="bold")
    for m in p.models:
        out.append(_name(m.model, 12))
        out.append(f" {money(m.cost_per_1k, missing='unknown'):>9} {short_money(m.cost_per_year):>11}"
                   f" {pct(m.pass_rate, 0):>6}")
        _marks(out, m, p, theme)
        out.append("\n")
    out.append_text(_cheapest_line(p))
    out.append(f"\n{FRONTIER_NOTE}", style="dim")
    return out


def by_cost(p: CostProjection) -> list[ModelCost]:
    """Cheapest per case first; unknown costs last, in the run's order."""
    return sorted(p.models, key=lambda m: (m.cost_per_1k is None, m.cost_per_1k or 0.0))


def _accuracy_bar(rate: float | None, width: int = 10) -> str:
    if rate is None:
        return " " * width
    filled = round(rate * width)
    return "█" * filled + "░" * (width - filled)


COST_TABLE_HEADER = (f"{'model':<16} {'$/1k':>9} {'$/day':>9} {'$/year':>9} {'errors/yr':>9} {'TCO/year':>9}  "
                     f"{'pass* (95% CI)':<20}")


def cost_table(p: CostProjection, theme: dict[str, str]) -> Text:
    """The cost-vs-accuracy table (Review): one row per model, cheapest per case first, with the
    model cost per 1k cases, per day and per year, the yearly cost of errors and TCO at the review
    cost, and the pass rate incl. errors with its CI and a bar; ★ the cheapest meeting the bar by
    the CI's lower bound, ◆ the frontier. Unknown stays 'unknown'."""
    bar = "none" if p.min_pass is None else f"{pct(p.min_pass, 0)} (by the 95% CI's lower bound)"
    out = Text(f"{p.volume} · review cost ${p.review_cost:,.2f} per failed case · bar {bar}\n", style="dim")
    out.append(COST_TABLE_HEADER + "\n", style="bold")
    for m in by_cost(p):
        passed = f"{pct(m.pass_rate)} ({pct_range(m.pass_rate_ci95)})" if m.pass_rate is not None else "-"
        out.append(_name(m.model, 16))
        out.append(f" {money(m.cost_per_1k, missing='unknown'):>9} {short_money(m.cost_per_day):>9}"
                   f" {short_money(m.cost_per_year):>9} {short_money(m.error_cost_per_year):>9}"
                   f" {short_money(m.tco_per_year):>9}  {passed:<20} ")
        out.append(_accuracy_bar(m.pass_rate), style=theme["success"] if m.meets_bar else "dim")
        _marks(out, m, p, theme)
        out.append("\n")
    out.append_text(_cheapest_line(p))
    out.append(f"\n{FRONTIER_NOTE} (sorted cheapest first)", style="dim")
    out.append("\n* pass rate incl. errors: errors, skips and scorer errors count as failures", style="dim")
    if any(m.price.source == "unknown" for m in p.models):
        out.append("\nunknown = no price for the model: set input_price_per_1m and output_price_per_1m in "
                   "[models.NAME] of assay.toml (never counted as $0).", style="dim")
    return out
