"""`assay probe contamination` and `assay probe show` (core.run.contamination): has a model seen the
dataset's cases before? Data on stdout (a table, or every figure with --json), progress on stderr."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import click

from cli.context import echo_err, pass_ws
from cli.output import print_json, safe, table
from core.common.figures import money, num, pct
from core.workspace import Workspace

if TYPE_CHECKING:
    from core.run.contamination import ContaminationReport


def _p(value: float | None) -> str:
    return "-" if value is None else ("<0.001" if value < 0.001 else f"{value:.3f}")


def _print(report: ContaminationReport) -> None:
    echo_err(f"probe run {report.run_id} ({report.status}): dataset {safe(report.dataset)} "
             f"v{report.dataset_version}, {report.cases} case(s) (+{report.too_short} too short), prefix "
             f"{pct(report.split, 0)} of the words, flagged at a common run >= {pct(report.threshold, 0)} of the rest")
    rows = [[
        safe(m.model), str(m.cases), f"{pct(m.flagged_share)} ({m.flagged})",
        f"{pct(m.control_share)} ({m.control_flagged})",
        _p(m.p_value), num(m.mean_run_ratio, 2), num(m.mean_control_ratio, 2),
        f"{pct(m.expected_share)} ({m.expected_reproduced}/{m.expected_cases})", pct(m.expected_chance_share),
        str(m.errors), money(m.cost_usd, "unknown" if m.cost_usd is None and m.cost_unknown else "known"),
        "SUSPECTED" if m.suspected else "-",
    ] for m in report.models]
    click.echo(table(["model", "cases", "flagged", "control", "p", "run", "ctl run", "expected", "chance", "errors",
                      "cost", "verdict"], rows, "lrrrrrrrrrrl"))
    for m in report.models:
        worst = [w for w in m.worst if (w.longest_run_ratio or 0) > 0]
        if not worst:
            continue
        click.echo(f"\nworst cases, {safe(m.model)}:")
        click.echo(table(["case", "run", "5-gram" if report.ngram == 5 else f"{report.ngram}-gram", "control",
                          "expected"],
                         [[safe(w.case_id), num(w.longest_run_ratio, 2), num(w.ngram_precision, 2),
                           num(w.control_ratio, 2),
                           "-" if w.expected_reproduced is None else ("yes" if w.expected_reproduced else "no")]
                          for w in worst], "lrrrl"))


def _json(report: ContaminationReport) -> None:
    print_json(asdict(report))


@click.group("probe")
def probe_group() -> None:
    """Probes of the measurement itself (contamination)."""


@probe_group.command("contamination")
@click.option("--dataset", "-d", required=True, help="Dataset name.")
@click.option("--models", "-m", required=True, help="Comma-separated model names from [models.*].")
@click.option("--split", type=float, default=0.5, show_default=True,
              help="Share of each input's words given as the prefix to continue.")
@click.option("--threshold", type=float, default=0.5, show_default=True,
              help="Flag a case when one common run covers at least this share of the real remainder.")
@click.option("--ngram", type=int, default=5, show_default=True, help="n of the n-gram precision.")
@click.option("--max-tokens", type=int, default=256, show_default=True, help="Longest continuation asked for.")
@click.option("--version", type=int, help="Probe a past dataset version (default: the current content).")
@click.option("--concurrency", "-c", type=int, help="Calls in flight at once, all models (default: [run]).")
@click.option("--json", "as_json", is_flag=True, help="Print every figure as JSON.")
@pass_ws
def probe_contamination(ws: Workspace, dataset: str, models: str, split: float, threshold: float, ngram: int,
                        max_tokens: int, version: int | None, concurrency: int | None, as_json: bool) -> None:
    """Ask each model to continue the first part of every case's input, verbatim, and to recite each
    expected output without the input; compare with the real text and with shuffled controls.

    \b
    assay probe contamination --dataset support --models gpt,claude
    assay probe contamination -d support -m gpt --split 0.3 --threshold 0.6 --json

    A model is SUSPECTED when its share flagged (or of expected outputs reproduced) is above its
    control at p < 0.05 (exact McNemar, paired by case). Exit 2 on bad input.
    """
    import asyncio

    from core.config.schema import load_config
    from core.run.contamination import ProbeRequest, run_probe

    names = [m.strip() for m in models.split(",") if m.strip()]
    request = ProbeRequest(dataset=dataset, models=names, split=split, threshold=threshold, ngram=ngram,
                           max_tokens=max_tokens, version=version, concurrency=concurrency)
    cfg = load_config(ws.config_path)
    echo_err(f"probing {', '.join(safe(n) for n in names)} on {safe(dataset)} ...")
    report = asyncio.run(run_probe(ws.db(), cfg, request, config_file=str(ws.config_path)))
    if as_json:
        _json(report)
    else:
        _print(report)


@probe_group.command("show")
@click.argument("run_id", metavar="RUN")
@click.option("--json", "as_json", is_flag=True, help="Print every figure as JSON.")
@pass_ws
def probe_show(ws: Workspace, run_id: str, as_json: bool) -> None:
    """The report of a stored probe run (ids start with p-)."""
    from core.run.contamination import contamination_report

    report = contamination_report(ws.db(), run_id)
    if as_json:
        _json(report)
    else:
        _print(report)


def register(cli: click.Group) -> None:
    cli.add_command(probe_group)
