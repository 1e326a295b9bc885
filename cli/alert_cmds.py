"""`assay alerts ...`: regression alerts and the webhooks they are sent to (core.trends.webhooks)."""

from __future__ import annotations

from dataclasses import asdict

import click

from cli.context import echo_err, pass_ws
from cli.output import print_json, safe, table
from core.errors import InfrastructureError
from core.workspace import Workspace


@click.group("alerts")
def alerts_group() -> None:
    """Regression alerts and their webhooks."""


@alerts_group.command("test-webhook")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the delivery result as JSON.")
@pass_ws
def test_webhook(ws: Workspace, name: str, as_json: bool) -> None:
    """Send a sample alert to [alerts.webhooks.NAME] now and print what happened (the URL's host
    only: the URL is a secret). Not deduplicated, not recorded. Exit 3 when delivery failed."""
    from core.trends.webhooks import send_test

    result = send_test(ws.load_config().alerts, name)
    if as_json:
        print_json({"webhook": result.webhook, "host": result.host, "outcome": result.outcome,
                    "attempts": result.attempts, "last_status": result.last_status, "error": result.error})
    else:
        click.echo(safe(result.describe()))
    if not result.ok:
        raise InfrastructureError(f"webhook {safe(name)} was not delivered")


@alerts_group.command("list")
@click.option("--all", "include_acknowledged", is_flag=True, help="Acknowledged alerts too.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ws
def alerts_list(ws: Workspace, include_acknowledged: bool, as_json: bool) -> None:
    """List the regression alerts not yet acknowledged (with --all, every alert), newest first."""
    from core.common.figures import pct_points
    from core.trends.alerts import list_alerts

    alerts = list_alerts(ws.db(), include_acknowledged=include_acknowledged)
    if as_json:
        print_json([asdict(a) for a in alerts])
        return
    if not alerts:
        echo_err("no open alerts" if not include_acknowledged else "no alerts")
        return
    rows = [[str(a.id), safe(a.dataset), safe(a.model), safe(a.task_type), pct_points(a.delta),
             f"{a.q_value:.3g}", str(a.n_matched), a.baseline_run_id, a.candidate_run_id,
             a.created_at[:19].replace("T", " "),
             f"{safe(a.acknowledged_by)} {a.acknowledged_at[:10]}" if a.acknowledged_at else "open"] for a in alerts]
    click.echo(table(["id", "dataset", "model", "task", "Δ pass", "q", "matched", "baseline", "candidate",
                      "raised (UTC)", "acknowledged"], rows, "rlllrrrllll"))


@alerts_group.command("ack")
@click.argument("alert_id", metavar="ID", type=int)
@click.option("--as", "as_", metavar="NAME", help="Who acknowledges it (default: user config `annotator`, then $USER).")
@pass_ws
def alerts_ack(ws: Workspace, alert_id: int, as_: str | None) -> None:
    """Acknowledge alert ID (it leaves `assay alerts list`; `--all` still shows it)."""
    from core.config.user import load_user_config, resolve_annotator
    from core.trends.alerts import acknowledge_alert

    alert, done = acknowledge_alert(ws.db(), alert_id, by=resolve_annotator(as_, load_user_config()))
    if done:
        echo_err(f"alert {alert.id} ({safe(alert.dataset)} / {safe(alert.model)} / {safe(alert.task_type)}) "
                 f"acknowledged by {safe(alert.acknowledged_by)}")
    else:
        echo_err(f"alert {alert.id} was already acknowledged by {safe(alert.acknowledged_by)} "
                 f"at {alert.acknowledged_at}")


# --- assay run --baseline [RUN_ID] --alert ---------------------------------------------------------

PINNED = ""  # `--baseline` without a value: the pinned baseline


def check_finished_run(ws: Workspace, run_id: str, baseline: str, *, alert: bool) -> bool:
    """After `assay run --baseline [RUN_ID] [--alert]`: compare the run with the baseline (PINNED:
    its pinned one), print every series' verdict on stderr; with `alert`, store the alerts and send
    the new ones to the webhooks. True when an alert fired (the run then exits 1)."""
    from core.trends.alerts import STATUS_TITLES, check_run, compare_and_assess

    cfg = ws.load_config()
    chosen = None if baseline == PINNED else baseline
    if alert:
        check = check_run(ws.db(), run_id, chosen, cfg)
        assessment = check.assessment
    else:
        assessment, check = compare_and_assess(ws.db(), run_id, chosen, cfg.alerts), None
    c = assessment.comparison
    echo_err(f"compared with baseline {', '.join(c.baseline_run_ids)}:")
    for v in assessment.verdicts:
        echo_err(f"  {STATUS_TITLES[v.status]}: {safe(v.series.series)}: {safe(v.why)}")
    if c.unpaired_models:
        echo_err("  not compared (no counterpart in the baseline): " + ", ".join(safe(m) for m in c.unpaired_models))
    if check is not None:
        for stored, new in check.stored:
            echo_err(f"  alert {stored.id}{'' if new else ' (already raised)'}: {safe(stored.model)} / "
                     f"{safe(stored.task_type)} (acknowledge with `assay alerts ack {stored.id}`)")
        for delivery in check.deliveries:
            echo_err(f"  webhook {safe(delivery.describe())}")
    return alert and bool(assessment.alerts)


def register(cli: click.Group) -> None:
    cli.add_command(alerts_group)
