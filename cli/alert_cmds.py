"""`assay alerts ...`: regression alerts and the webhooks they are sent to (core.trends.webhooks)."""

from __future__ import annotations

import click

from cli.context import pass_ws
from cli.output import print_json, safe
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


def register(cli: click.Group) -> None:
    cli.add_command(alerts_group)
