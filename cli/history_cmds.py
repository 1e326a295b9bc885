"""Commands over the run history: `assay cost` (core.trends.costs)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from cli import context
from cli.output import print_json, safe, table
from core.errors import UsageError
from core.workspace import Workspace

if TYPE_CHECKING:
    from core.trends.costs import CostProjection

COST_FORMATS = ("table", "markdown", "json")


def _usd(x: float | None) -> str:
    from core.common.figures import money

    return money(x, "known" if x is not None else "unknown")


def _sections(p: CostProjection) -> list[tuple[str, list[str], list[list[str]], str]]:
    """(title, headers, rows, column alignment) of the two tables; cells are terminal-safe."""
    from core.common.figures import num, pct, pct_range

    def yes_no(flag: bool | None, missing: str = "-") -> str:
        return missing if flag is None else "yes" if flag else "no"

    cost_rows = [[safe(m.model), _usd(m.price.input_per_1m),
                  _usd(m.price.output_per_1m), m.price.source, num(m.input_tokens_per_case, 1),
                  num(m.output_tokens_per_case, 1), _usd(m.cost_per_1k), _usd(m.cost_per_day), _usd(m.cost_per_year)]
                 for m in p.models]
    tco_rows = [[safe(m.model), pct(m.pass_rate), pct_range(m.pass_rate_ci95), yes_no(m.meets_bar),
                 _usd(m.error_cost_per_day), _usd(m.tco_per_day), _usd(m.tco_per_year),
                 yes_no(m.on_frontier, "unknown")]
                for m in p.models]
    return [
        ("Model cost", ["model", "$/1M in", "$/1M out", "price from", "tokens in/case", "tokens out/case",
                        "per 1k cases", "per day", "per year"], cost_rows, "lrrlrrrrr"),
        ("Cost of errors and total cost of ownership",
         ["model", "pass incl. errors", "95% CI", "meets bar", "errors/day", "TCO/day", "TCO/year", "frontier"],
         tco_rows, "lrrlrrrl"),
    ]


def _summary(p: CostProjection) -> tuple[str, list[str]]:
    """The heading line and the closing lines (cheapest model, frontier, what unknown means)."""
    from core.common.figures import pct

    volume = str(p.volume)
    if p.volume.unit == "tokens":
        volume += (f" ≈ {p.cases_per_day:,.0f} cases/day at {p.prompt_tokens_per_case:,.1f} prompt tokens per case"
                   if p.cases_per_day is not None else " (no measured prompt tokens to convert it to cases)")
    head = (f"Run {safe(p.run_id)} (dataset {safe(p.dataset)} v{p.dataset_version}): {volume}; "
            f"review cost {_usd(p.review_cost)} per failed case")
    lines = []
    if p.min_pass is None:
        lines.append("No accuracy bar: give --min-pass RATE to pick the cheapest model that meets it.")
    elif p.cheapest is not None:
        best = p.model(p.cheapest)
        lines.append(f"Cheapest meeting the bar (pass rate incl. errors ≥ {pct(p.min_pass)} at its 95% CI lower "
                     f"bound): {safe(p.cheapest)}, TCO {_usd(best.tco_per_year)}/year")
    else:
        lines.append(f"No model with a known price meets the bar (pass rate incl. errors ≥ {pct(p.min_pass)} at its "
                     "95% CI lower bound).")
    frontier = [safe(m.model) for m in p.models if m.on_frontier]
    lines.append("Frontier (no other model is both cheaper and more accurate): " + (", ".join(frontier) or "-"))
    if any(m.price.source == "unknown" for m in p.models):
        lines.append("unknown = no price for the model: set input_price_per_1m and output_price_per_1m in "
                     "[models.NAME] of assay.toml.")
    return head, lines


def render_table(p: CostProjection) -> str:
    head, lines = _summary(p)
    out = [head, ""]
    for title, headers, rows, align in _sections(p):
        out += [title, table(headers, rows, align), ""]
    return "\n".join(out + lines) + "\n"


def render_markdown(p: CostProjection) -> str:
    from core.report.render import markdown_cell  # here: it loads the report's modules (asyncio too)

    head, lines = _summary(p)
    out = [f"# Assay cost projection: run {markdown_cell(safe(p.run_id))}", "", markdown_cell(head), ""]
    for title, headers, rows, _ in _sections(p):
        out += [f"## {title}", "", "| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        out += ["| " + " | ".join(markdown_cell(c) for c in row) + " |" for row in rows]
        out.append("")
    return "\n".join(out + [markdown_cell(line) + "  " for line in lines]) + "\n"


@click.command("cost")
@click.argument("run_id", required=False)
@click.option("--latest", is_flag=True, help="Project the most recent run.")
@click.option("--cases", metavar="N/PERIOD", help="Production volume in cases: 10000/day, 300k/month, 2M/year.")
@click.option("--tokens", metavar="N/PERIOD",
              help="Production volume in prompt (input) tokens: 50M/day; converted to cases at the run's "
                   "measured prompt tokens per case.")
@click.option("--review-cost", type=float, default=0.0, show_default=True, metavar="DOLLARS",
              help="What a failed case costs you (a human review, a refund): the cost of errors.")
@click.option("--min-pass", type=float, metavar="RATE",
              help="Accuracy bar (0-1) on the pass rate incl. errors, judged by its 95% CI lower bound.")
@click.option("--format", "fmt", type=click.Choice(COST_FORMATS), default="table", show_default=True)
@context.pass_ws
def cost_cmd(ws: Workspace, run_id: str | None, latest: bool, cases: str | None, tokens: str | None,
             review_cost: float, min_pass: float | None, fmt: str) -> None:
    """Project what each model of a run would cost in production: cost per 1k cases from the run's
    measured tokens and the models' prices, per day and per year at your volume, the cost of its
    errors, the total cost of ownership, the cheapest model that meets an accuracy bar, and the
    cost-vs-accuracy frontier. Unknown prices stay unknown (never $0)."""
    from core.report.build import latest_run_id
    from core.trends.costs import parse_volume, project_costs

    if bool(run_id) == latest:
        raise UsageError("give a RUN_ID or --latest (one of them)")
    if (cases is None) == (tokens is None):
        raise UsageError("give the production volume as --cases N/PERIOD or --tokens N/PERIOD (one of them)")
    volume = parse_volume(cases, "cases") if cases is not None else parse_volume(tokens or "", "tokens")
    db = ws.db()
    projection = project_costs(db, run_id or latest_run_id(db), ws.load_config(), volume,
                               review_cost=review_cost, min_pass=min_pass)
    if fmt == "json":
        print_json(projection.to_dict())
    elif fmt == "markdown":
        click.echo(render_markdown(projection), nl=False)
    else:
        click.echo(render_table(projection), nl=False)


def register(cli: click.Group) -> None:
    cli.add_command(cost_cmd)
