"""`assay noise RUN`: the noise floor of a run made with --repeat k (core.trends.noise)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from cli import context
from cli.output import print_json, safe, table
from core.workspace import Workspace

if TYPE_CHECKING:
    from core.trends.noise import NoiseReport


def render_table(report: NoiseReport) -> str:
    from core.common.figures import num, pct, pct_range

    def sd_range(ci: tuple[float, float] | None) -> str:
        return "-" if ci is None else f"{ci[0]:.3f}–{ci[1]:.3f}"

    rows = [[safe(s.model), safe(s.task_type), str(s.cases), str(s.flipped_cases), pct(s.flip_share),
             pct_range(s.flip_share_ci95), pct(s.discordance), pct_range(s.discordance_ci95),
             "-" if s.mdd is None else f"{100 * s.mdd:.1f} pts", num(s.score_sd), sd_range(s.score_sd_ci95),
             str(s.ungraded), str(s.cases_too_few)]
            for s in report.series]
    head = (f"Run {safe(report.run_id)} (dataset {safe(report.dataset)}): noise between {report.repeats} repeats "
            "of each case")
    notes = [
        "flip share: cases whose graded repeats do not all agree (grows with the number of repeats).",
        "discordance: chance that two repeats of a case disagree; the flip rate a comparison of two unchanged "
        "runs would see.",
        "MDD: smallest pass-rate drop a paired comparison on this many cases detects (80% power, alpha 0.05) "
        "with that much noise; - when no flip was measured or none is detectable.",
        "score SD: mean within-case standard deviation of the score. Ungraded results (errors, skips, scorer "
        "errors, unscored) are left out; 'too few' cases have under 2 graded repeats.",
    ]
    body = table(["model", "task type", "cases", "flipped", "flip share", "95% CI", "discordance", "95% CI", "MDD",
                  "score SD", "95% CI", "ungraded", "too few"], rows, "llrrrrrrrrrrr")
    return "\n".join([head, "", body, "", *notes]) + "\n"


@click.command("noise")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@context.pass_ws
def noise_cmd(ws: Workspace, run_id: str, as_json: bool) -> None:
    """How much a run's verdicts and scores move between repeats of the same case (a run made with
    --repeat 2 or more): per model and task type, the share of cases whose verdict flips, the chance
    two repeats disagree and the smallest drop a comparison can then detect, and the score's
    within-case standard deviation, each with a 95% interval. A run with one repeat exits 2."""
    from core.trends.noise import noise_report

    report = noise_report(ws.db(), run_id)
    if as_json:
        print_json(report.to_dict())
    else:
        click.echo(render_table(report), nl=False)


def register(cli: click.Group) -> None:
    cli.add_command(noise_cmd)
