"""`assay demo`: the bundled demo end to end, on a fresh demo workspace and the local demo server.

    assay demo              builds ./demo-workspace, starts the demo server, opens the app
    assay demo --headless   the same workspace, then every demo dataset against the demo models
                            through the real litellm HTTP path, and the comparison report
"""

from __future__ import annotations

from pathlib import Path

import click

from cli.context import echo_err, pass_ws
from core.workspace import Workspace

# A fixed port keeps the workspace's api_base valid later: `assay serve --port 8765` revives it.
DEFAULT_PORT = 8765


def _start_server(port: int, latency_scale: float):
    from demo.serve import DemoServer

    for candidate in (port, 0):
        srv = DemoServer(port=candidate, latency_scale=latency_scale)
        try:
            srv.start()
            return srv
        except OSError:
            continue
    raise click.ClickException("could not start the demo server")


def _headless(ws: Workspace) -> None:
    """Every demo dataset against the demo models, then its report: one config read and one
    connection (on this thread) for all of them."""
    import asyncio

    from core.config.schema import load_config
    from demo import DATASETS
    from demo.workspace import CANDIDATE_MODELS
    from core.report.build import build_report
    from core.report.render import render_table
    from core.run.engine import run
    from core.run.plan import RunRequest

    cfg = load_config(ws.config_path)
    db = ws.connect()
    try:
        for name in DATASETS:
            echo_err(f"running {name} against {', '.join(CANDIDATE_MODELS)} ...")
            finished = asyncio.run(run(db, cfg, RunRequest(dataset=name, models=CANDIDATE_MODELS),
                                       config_file=str(ws.config_path)))
            click.echo(render_table(build_report(db, finished.run_id, cfg)))
            click.echo()
    finally:
        db.close()


def register(cli: click.Group) -> None:
    @cli.command("demo")
    @click.option("--headless", is_flag=True, help="Run the demo datasets and print the comparison; no app.")
    @click.option("--dir", "directory", type=click.Path(file_okay=False), default="demo-workspace",
                  show_default=True, help="Where to build the demo workspace (rebuilt each time).")
    @click.option("--port", type=int, default=DEFAULT_PORT, show_default=True,
                  help="Demo server port (a free one is used if it is taken).")
    @click.option("--latency-scale", type=float, default=1.0, show_default=True,
                  help="Multiplies the demo models' built-in latency (0 = instant).")
    @pass_ws
    def demo(ws: Workspace, headless: bool, directory: str, port: int, latency_scale: float) -> None:
        """Build a demo workspace, start the local demo server, and open the app (or run headless)."""
        from demo.workspace import WORKSPACE_MODELS, build_demo_workspace
        from core.common.safe_text import safe_text

        root = Path(directory).resolve()
        srv = _start_server(port, latency_scale)
        try:
            # The app gets a short history so Trends is not empty; the headless comparison needs none.
            build_demo_workspace(root, srv.base_url, fresh=True, history=not headless)
            echo_err(f"demo workspace: {safe_text(root)}")
            echo_err(f"demo server:    {srv.base_url} (models {', '.join(m[0] for m in WORKSPACE_MODELS)})")
            demo_ws = Workspace(root=root, db_path=root / "assay.db", debug=ws.debug)
            if headless:
                _headless(demo_ws)
                echo_err(f"explore it: assay -w {safe_text(directory)} (with `assay serve --port {srv.port}` for new runs)")
            else:
                from cli.app_cmds import open_app

                open_app(demo_ws)
        finally:
            srv.stop()
