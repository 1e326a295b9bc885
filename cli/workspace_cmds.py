"""`assay init`: a workspace is a folder with assay.toml and assay.db."""

from __future__ import annotations

import click

from cli.context import Workspace, pass_ws


def register(cli: click.Group) -> None:
    @cli.command("init")
    @pass_ws
    def init(ws: Workspace) -> None:
        """Create assay.toml (commented starter) and the database in the workspace."""
        from core.workspace_init import init_workspace

        created = init_workspace(ws.root, ws.db_path)
        for line in created:
            click.echo(line, err=True)
