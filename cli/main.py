"""Entry point of the `assay` command. One error funnel maps the exception tree to exit codes."""

from __future__ import annotations

import os
import sys

import click

from cli import context
from core.errors import AssayError
from core.workspace import Workspace, resolve


class AssayGroup(click.Group):
    """Runs every command through one error funnel: AssayError -> message + exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AssayError as exc:
            from core.common.safe_text import safe_text

            ws = ctx.find_object(Workspace)
            if ws is not None and ws.debug:
                raise
            click.echo(f"error: {safe_text(exc.message)}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=AssayGroup, invoke_without_command=True)
@click.option("--workspace", "-w", type=click.Path(file_okay=False), help="Workspace folder (default: current folder).")
@click.option("--db", type=click.Path(dir_okay=False), help="SQLite file (default: WORKSPACE/assay.db or $ASSAY_DB).")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.option("--dataset", help="Open the app with this dataset selected (no command only).")
@click.option("--as", "as_", metavar="NAME", help="Annotator name for the app (no command only).")
@click.version_option(package_name="assay")
@click.pass_context
def cli(ctx: click.Context, workspace: str | None, db: str | None, debug: bool, dataset: str | None,
        as_: str | None) -> None:
    """Assay: measure LLMs on your own data.

    With no command, opens the terminal app on the workspace.
    """
    ctx.obj = resolve(workspace, db, debug)
    if ctx.invoked_subcommand is None:
        from cli.app_cmds import open_app

        open_app(ctx.obj, dataset=dataset, annotator=as_)


@cli.group("db")
def db_group() -> None:
    """The workspace database."""


@db_group.command("path")
@context.pass_ws
def db_path(ws: Workspace) -> None:
    """Print the path of the workspace database."""
    click.echo(str(ws.db_path))


def _register() -> None:
    # Each module adds its own commands; command bodies import their heavy modules lazily.
    from cli import (alert_cmds, app_cmds, baseline_cmds, dataset_cmds, demo_cmds, history_cmds, judge_cmds, noise_cmds,
                     probe_cmds, report_cmds, run_cmds, serve_cmds, trends_cmds, workspace_cmds)

    for mod in (workspace_cmds, dataset_cmds, run_cmds, serve_cmds, demo_cmds, report_cmds, baseline_cmds, alert_cmds,
                history_cmds, judge_cmds, noise_cmds, probe_cmds, trends_cmds, app_cmds):
        mod.register(cli)


_register()


def main() -> None:
    try:
        cli(prog_name="assay")
    except SystemExit as done:
        if "litellm" not in sys.modules and "core.run.engine" not in sys.modules:
            raise
        # A command that ran models: every row is committed and the clients are closed, but
        # Python's teardown of the modules takes 1.3-1.5 s here when litellm is one of them
        # (measured at `assay run`'s exit; the bare litellm loop pays it too), and ≈0.2 s after a
        # run whose requests went from worker processes. Flush and leave without it.
        code = done.code
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)  # what sys.exit("message") would print
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 0 if code is None else 1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
