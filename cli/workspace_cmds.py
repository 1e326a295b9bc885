"""`assay init`: a workspace is a folder with assay.toml and assay.db."""

from __future__ import annotations

import click

from cli.context import echo_err, pass_ws
from cli.output import safe
from core.workspace import Workspace


def register(cli: click.Group) -> None:
    @cli.command("init")
    @pass_ws
    def init(ws: Workspace) -> None:
        """Create assay.toml (commented starter) and the database in the workspace."""
        for line in ws.init():
            echo_err(safe(line))  # the lines name paths the user chose
