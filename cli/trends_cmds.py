"""`assay trends` (series and their points over time, core.trends.queries), `assay trends rebuild`
and `assay schedule` (cron lines and a GitHub Actions workflow, core.trends.schedule)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli import context
from cli.output import print_json, safe, table
from core.workspace import Workspace

if TYPE_CHECKING:
    from core.trends.queries import Series, SeriesSummary

_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: tuple[float | None, ...], rate: bool) -> str:
    """One character per value (a space where there is none); rates on 0..1, others on their range."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    low, high = (0.0, 1.0) if rate else (min(known), max(known))
    span = high - low
    return "".join(" " if v is None else _BARS[0 if not span else min(7, int((v - low) / span * 7 + 0.5))]
                   for v in values)


def _value(metric: str, x: float | None) -> str:
    from core.common.figures import money, ms, num, pct
    from core.trends.queries import FIELD_PREFIX, METRICS

    unit = "rate" if metric.startswith(FIELD_PREFIX) else METRICS[metric][1]
    if unit == "rate":
        return pct(x)
    if unit == "ms":
        return ms(x)
    if unit == "usd":
        return money(x, "known" if x is not None else "unknown")
    return num(x)


def _is_rate(metric: str) -> bool:
    from core.trends.queries import FIELD_PREFIX, METRICS

    return metric.startswith(FIELD_PREFIX) or METRICS[metric][1] in ("rate", "score")


def _tags(tags: dict[str, str]) -> str:
    from core.run.tags import format_tags

    return safe(format_tags(tags), 40)


def _series_table(rows: list[SeriesSummary], metric: str) -> str:
    from core.common.figures import pct, pct_range
    from core.trends.queries import metric_label

    shown = metric_label(metric)
    body = [[safe(s.key.dataset, 30), safe(s.key.model, 30), safe(s.key.task_type, 20), str(s.runs),
             pct(s.last_pass_rate), pct_range(s.last_ci95), str(s.last_scored),
             *([] if metric == "pass_rate" else [_value(metric, s.last_value)]),
             sparkline(s.recent, _is_rate(metric)), str(s.breaks), _tags(s.last_tags)] for s in rows]
    headers = ["dataset", "model", "task type", "runs", "pass rate", "95% CI", "n",
               *([] if metric == "pass_rate" else [shown]), f"trend ({shown})", "breaks", "last tags"]
    return table(headers, body, "llll" + "rrr" + ("" if metric == "pass_rate" else "r") + "lrl")


def _points_table(series: Series) -> str:
    from core.common.figures import pct_range
    from core.trends.queries import metric_label

    body = []
    for p in series.points:
        body.append([p.run_id, p.created_at[:19].replace("T", " "), f"v{p.dataset_version}",
                     _value(series.metric, p.value), pct_range(p.ci95), str(p.scored), str(p.segment),
                     _tags(p.tags), safe("; ".join(p.breaks), 80)])
    title = (f"{safe(series.key.dataset)} / {safe(series.key.model)} / {safe(series.key.task_type)}: "
             f"{metric_label(series.metric)}")
    headers = ["run", "created (UTC)", "version", "value", "95% CI", "n", "segment", "tags", "break"]
    return title + "\n" + table(headers, body, "lllrrrrll")


def _series_json(s: Series) -> dict[str, object]:
    return {"dataset": s.key.dataset, "model": s.key.model, "task_type": s.key.task_type, "metric": s.metric,
            "fields": list(s.fields), "points": [asdict(p) for p in s.points]}


@click.group("trends", invoke_without_command=True)
@click.option("--dataset", "-d", help="Only this dataset.")
@click.option("--model", "-m", help="Only this model.")
@click.option("--task-type", "-t", help="Only this task type ('(all)': every task type together).")
@click.option("--metric", default="pass_rate", show_default=True,
              help="pass_rate, pass_rate_incl_errors, mean_score, latency_p50_ms, latency_p95_ms, cost_per_case, "
                   "cost_per_correct or field:NAME (accuracy of one extraction field).")
@click.option("--points", is_flag=True, help="Every point of each series (default when --dataset and --model are given).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (series with all their points).")
@click.pass_context
def trends_cmd(ctx: click.Context, dataset: str | None, model: str | None, task_type: str | None, metric: str,
               points: bool, as_json: bool) -> None:
    """Series (dataset x model x task type) over runs: last pass rate with its CI, a trend line and
    the series breaks (scorer config, prompt, params or provider model changed).

    \b
    assay trends
    assay trends -d support -m gpt --metric latency_p95_ms
    assay trends -d invoices -m gpt -t extraction --metric field:total --json
    """
    if ctx.invoked_subcommand is not None:
        return
    from core.trends.aggregates import refresh
    from core.trends.queries import check_metric, list_series, trend_series

    ws = ctx.find_object(Workspace)
    assert ws is not None
    check_metric(metric)
    db = ws.db()
    refresh(db)  # runs that finished or were re-scored since the aggregates were last built
    if points or as_json or (dataset and model):
        if dataset and model and task_type is None and not as_json:
            from core.report.types import ALL

            task_type = ALL
        found = trend_series(db, dataset=dataset, model=model, task_type=task_type, metric=metric)
        if as_json:
            print_json([_series_json(s) for s in found])
            return
        if not found:
            context.echo_err("no trends yet: a series needs a finished run (assay run --dataset NAME --models a,b)")
            return
        click.echo("\n\n".join(_points_table(s) for s in found))
        return
    rows = list_series(db, dataset=dataset, model=model, task_type=task_type, metric=metric)
    if not rows:
        context.echo_err("no trends yet: a series needs a finished run (assay run --dataset NAME --models a,b)")
        return
    click.echo(_series_table(rows, metric))


@trends_cmd.command("rebuild")
@context.pass_ws
def rebuild_cmd(ws: Workspace) -> None:
    """Recompute the per-run aggregates behind every trend from the stored results and verdicts."""
    from core.trends.aggregates import rebuild_all

    done = rebuild_all(ws.db())
    context.echo_err(f"rebuilt the trend aggregates of {done.runs} run(s): {done.rows} row(s)")


@click.command("schedule")
@click.option("--dataset", "-d", required=True, help="Dataset the suite runs on.")
@click.option("--models", "-m", required=True, help="Comma-separated model names from [models.*].")
@click.option("--cron", default=None, help="When (cron syntax, UTC on GitHub). Default: Mondays 06:00.")
@click.option("--install", default="pip install assay", show_default=True,
              help="The workflow's step that installs assay.")
@click.option("--format", "fmt", type=click.Choice(["all", "cron", "github"]), default="all", show_default=True)
@context.pass_ws
def schedule_cmd(ws: Workspace, dataset: str, models: str, cron: str | None, install: str, fmt: str) -> None:
    """Print cron lines and a GitHub Actions workflow that run the suite on a schedule, compare it
    with the pinned baseline (assay run ... --baseline --alert) and fail when an alert fires."""
    from core.config.schema import load_config
    from core.errors import UsageError
    from core.trends.schedule import WEEKLY, Schedule, cron_lines, github_workflow

    names = tuple(m.strip() for m in models.split(",") if m.strip())
    cfg = load_config(ws.config_path)
    unknown = [n for n in names if n not in cfg.models]
    if not names or unknown:
        raise UsageError(f"unknown model(s) {', '.join(unknown) or '(none given)'} (see [models.*] in assay.toml)")
    if cron is not None and len(cron.split()) != 5:
        raise UsageError(f"--cron {cron!r}: expected five fields (minute hour day month weekday)")
    judge = cfg.models.get(cfg.judge.model) if cfg.judge.model else None
    secrets = sorted({m.api_key_env for m in [*(cfg.models[n] for n in names), *([judge] if judge else [])]
                      if m.api_key_env})
    plan = Schedule(dataset=dataset, models=names, workspace=Path(ws.root).resolve(), cron=cron or WEEKLY,
                    secrets=tuple(secrets), install=install)
    if fmt in ("all", "cron"):
        click.echo(cron_lines(plan))
    if fmt in ("all", "github"):
        click.echo(github_workflow(plan))


def register(cli: click.Group) -> None:
    cli.add_command(trends_cmd)
    cli.add_command(schedule_cmd)
