"""`assay report` and `assay score`: thin wrappers over core.report.build / core.run.scoring."""

from __future__ import annotations

from pathlib import Path

import click

from cli import context
from core.errors import QualityGateFailed, UsageError
from core.workspace import Workspace

# Same as core.report.render.FORMATS, kept here so building the CLI imports no report code.
FORMATS = ("table", "markdown", "csv", "json", "junit")


@click.command("report")
@click.argument("run_id", required=False)
@click.option("--latest", is_flag=True, help="Report on the most recent run.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE instead of stdout.")
@click.option("--fail-under", type=click.FloatRange(0, 1), metavar="RATE",
              help="Exit 1 when a model's pass rate (errors counted as failures) is below RATE.")
@click.option("--model", help="With --fail-under: gate only this model (default: every model).")
@context.pass_ws
def report_cmd(ws: Workspace, run_id: str | None, latest: bool, fmt: str, output: Path | None,
               fail_under: float | None, model: str | None) -> None:
    """Report a run: pass rates with 95% CIs, cost per correct answer, per-field accuracy,
    confusion matrices, and paired significance tests between models."""
    from core.config.schema import load_config
    from core.report.build import build_report, gate, latest_run_id
    from core.report.render import render
    from core.common.safe_text import safe_text

    if bool(run_id) == latest:
        raise UsageError("give a RUN_ID or --latest (one of them)")
    if model is not None and fail_under is None:
        raise UsageError("--model only applies with --fail-under")
    db = ws.db()
    run_id = run_id or latest_run_id(db)
    report = build_report(db, run_id, load_config(ws.config_path))
    text = render(report, fmt)
    if output is not None:
        output.write_text(text, encoding="utf-8")
        context.echo_err(f"wrote {safe_text(str(output))}")
    else:
        click.echo(text, nl=False)
    if fail_under is not None:
        failures = gate(report, fail_under, model)
        if failures:
            raise QualityGateFailed("quality gate failed: " + "; ".join(safe_text(f) for f in failures))
        context.echo_err(f"quality gate passed (pass rate incl. errors >= {fail_under:g})")


@click.command("score")
@click.argument("run_id")
@context.pass_ws
def score_cmd(ws: Workspace, run_id: str) -> None:
    """Re-score a run's stored outputs with the current scorers, in a new round (old verdicts kept)."""
    from core.config.schema import load_config
    from core.common.safe_text import safe_text
    from core.run.scoring import rescore
    from core.trends.aggregates import record_run

    done = rescore(ws.db(), load_config(ws.config_path), run_id, root=ws.root)
    record_run(ws.db(), run_id)  # the trend history follows the new verdicts
    context.echo_err(f"run {safe_text(run_id, single_line=True)}: round {done.round}, {done.verdicts} verdicts "
                     f"({done.scorer_errors} scorer errors)")


def register(cli: click.Group) -> None:
    cli.add_command(report_cmd)
    cli.add_command(score_cmd)
