"""`assay init`: a workspace is a folder with assay.toml and assay.db."""

from __future__ import annotations

import click

from cli.context import Workspace, echo_err, pass_ws
from cli.output import safe


def register(cli: click.Group) -> None:
    @cli.command("init")
    @pass_ws
    def init(ws: Workspace) -> None:
        """Create assay.toml (commented starter) and the database in the workspace."""
        from core.workspace import init_workspace

        for line in init_workspace(ws.root, ws.db_path):
            echo_err(safe(line))  # the lines name paths the user chose
