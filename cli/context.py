"""What every command shares beyond the workspace (core.workspace): the click decorator that
passes it, and the one way messages reach stderr."""

from __future__ import annotations

import click

from core.workspace import Workspace

pass_ws = click.make_pass_decorator(Workspace)


def echo_err(message: str) -> None:
    """Messages go to stderr; untrusted parts must already be through safe_text."""
    click.echo(message, err=True)
