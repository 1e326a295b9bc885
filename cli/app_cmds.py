"""Opening the terminal app, and the labeling commands that go with it."""

from __future__ import annotations

import click

from cli.context import Workspace


def open_app(ws: Workspace) -> None:
    click.echo("The terminal app is not built yet; see `assay --help` for the CLI.", err=True)


def register(cli: click.Group) -> None:
    pass
