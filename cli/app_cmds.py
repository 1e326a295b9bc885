"""Opening the terminal app, and the labeling commands that go with it.

    assay                          the app on the workspace (Datasets screen)
    assay label DATASET [--as ME]  the app straight on the Label screen for DATASET
    assay agreement DATASET        inter-annotator agreement (--json for machines)

Textual is imported only when the app opens, so `assay --help` stays fast.
"""

from __future__ import annotations

import json

import click

from cli.context import pass_ws
from core.common.figures import num, pct
from core.errors import UsageError
from core.workspace import Workspace


def open_app(ws: Workspace, *, start: str = "datasets", dataset: str | None = None, annotator: str | None = None) -> None:
    """Run the app until the user quits. Labels are saved as they are made: there is nothing to save on exit."""
    from core.config.user import load_user_config, resolve_annotator

    if not ws.db_path.exists() and not ws.config_path.exists():
        raise UsageError(f"no Assay workspace in {ws.root}: run `assay init` there, or pass --workspace/--db")
    config = ws.load_config()
    user = load_user_config()
    who = resolve_annotator(annotator, user)
    ws.db()  # creates/migrates the database on this thread before any worker opens it
    chosen = None
    if dataset is not None:
        from core.datasets.browse import dataset_id

        chosen = (dataset_id(ws.db(), dataset), dataset)

    from tui.app import AssayApp

    AssayApp(ws, config=config, annotator=who, user_keymap=user.keymap, start=start, dataset=chosen).run()


def register(cli: click.Group) -> None:
    @cli.command("label")
    @click.argument("dataset")
    @click.option("--as", "as_", metavar="NAME", help="Annotator name (default: user config `annotator`, then $USER).")
    @pass_ws
    def label(ws: Workspace, dataset: str, as_: str | None) -> None:
        """Label DATASET in the app: one key per decision, saved as you go, resumes where you stopped."""
        open_app(ws, start="label", dataset=dataset, annotator=as_)

    @cli.command("agreement")
    @click.argument("dataset")
    @click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
    @pass_ws
    def agreement(ws: Workspace, dataset: str, as_json: bool) -> None:
        """Inter-annotator agreement on DATASET: percent agreement and Cohen's kappa per pair,
        Krippendorff's alpha (nominal) overall, and confusion matrices."""
        from core.labeling.agreement import load_agreement
        from core.datasets.browse import dataset_id
        from core.common.safe_text import safe_text

        report = load_agreement(ws.db(), dataset_id(ws.db(), dataset))
        if as_json:
            # ensure_ascii: no raw control or BiDi character can reach a terminal through stdout.
            click.echo(json.dumps({"dataset": dataset, **report.as_dict()}, ensure_ascii=True, indent=2))
            return
        name = lambda s, n=20: safe_text(s, single_line=True, max_len=n)  # noqa: E731
        click.echo(f"Agreement on {name(dataset, 60)}: {len(report.annotators)} annotators, "
                   f"{report.n_cases} cases labeled, {report.n_pairable} with 2+ labels")
        click.echo(f"Krippendorff's alpha (nominal): {num(report.alpha, missing='n/a')}")
        if not report.pairs:
            click.echo("No pair of annotators to compare yet.")
            return
        click.echo(f"\n{'pair':<42} {'n':>6} {'agree':>7} {'kappa':>7}")
        for p in report.pairs:
            agree, kappa = pct(p.percent, missing="n/a"), num(p.kappa, missing="n/a")
            click.echo(f"{name(p.a) + ' - ' + name(p.b):<42} {p.n:>6} {agree:>7} {kappa:>7}")
        for p in report.pairs:
            if not p.n or len(p.categories) > 10:
                continue
            cats = [name(c, 10) for c in p.categories]
            width = max(6, *(len(c) for c in cats)) + 1
            click.echo(f"\nConfusion: {name(p.a)} (rows) x {name(p.b)} (columns)")
            click.echo(" " * width + "".join(f"{c:>{width}}" for c in cats))
            for c, row in zip(cats, p.matrix):
                click.echo(f"{c:>{width}}" + "".join(f"{v:>{width}}" for v in row))
