"""`assay judge-check` and `assay judge-sample`: an LLM judge against the experts
(core.labeling.calibration, core.labeling.judge_sample)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from cli.context import echo_err, pass_ws
from cli.output import print_json, safe, table
from core.errors import QualityGateFailed
from core.workspace import Workspace

if TYPE_CHECKING:
    from core.labeling.calibration import JudgeCalibration


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f}%"


def _row(j: JudgeCalibration) -> list[str]:
    c = j.confusion
    ci = "-" if j.kappa_ci95 is None else f"{j.kappa_ci95[0]:.3f}…{j.kappa_ci95[1]:.3f}"
    return [safe(j.scorer), safe(j.judge_model), j.judge_prompt_hash[:12], str(j.graded), _pct(j.percent_agreement),
            _num(j.kappa), ci,
            f"{c.expert_pass_judge_pass}/{c.expert_pass_judge_fail}/{c.expert_fail_judge_pass}/{c.expert_fail_judge_fail}",
            _num(j.precision_pass), _num(j.recall_pass),
            "calibrated" if j.calibrated else "UNCALIBRATED"]


@click.command("judge-check")
@click.argument("run_id", metavar="RUN")
@click.option("--grades", metavar="DATASET", help="Read expert grades from this dataset (default: <dataset>-judge-grades).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (every figure).")
@click.option("--fail-uncalibrated", is_flag=True, help="Exit 1 when a judge of RUN is uncalibrated.")
@pass_ws
def judge_check(ws: Workspace, run_id: str, grades: str | None, as_json: bool, fail_uncalibrated: bool) -> None:
    """How far RUN's LLM judges agree with the experts' grades of the same outputs: Cohen's kappa
    with a 95% CI, percent agreement, the confusion matrix, precision and recall on "pass", and
    whether each judge is calibrated ([judge] min_graded outputs graded, kappa >= [judge] min_kappa)."""
    from core.labeling.calibration import calibrate

    report = calibrate(ws.db(), ws.load_config(), run_id, grades_dataset=grades)
    if as_json:
        print_json(report.to_dict())
    elif not report.judges:
        echo_err(f"run {run_id} has no judge verdicts (no llm-rubric scorer graded its outputs)")
    else:
        headers = ["scorer", "judge model", "rubric", "graded", "agree", "kappa", "95% CI",
                   "pp/pf/fp/ff", "precision", "recall", "status"]
        click.echo(table(headers, [_row(j) for j in report.judges], "lllrrrrrrrl"))
        click.echo("pp/pf/fp/ff: expert pass & judge pass / expert pass & judge fail / expert fail & judge pass / "
                   "expert fail & judge fail; precision and recall of the judge's pass against the experts'")
        for j in report.uncalibrated:
            click.echo(f"UNCALIBRATED {safe(j.judge_model)} ({safe(j.scorer)}): {safe('; '.join(j.reasons))}")
        if report.uncalibrated:
            echo_err(f"grade more outputs: assay judge-sample {run_id} --size 40, then assay label "
                     f"{safe(report.grades_dataset)}")
    if fail_uncalibrated and report.uncalibrated:
        raise QualityGateFailed(f"{len(report.uncalibrated)} uncalibrated judge(s) in run {run_id}")


@click.command("judge-sample")
@click.argument("run_id", metavar="RUN")
@click.option("--size", type=click.IntRange(min=1), default=40, show_default=True, help="Outputs to add.")
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed.")
@click.option("--into", metavar="DATASET", help="The grades dataset (default: <dataset>-judge-grades).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ws
def judge_sample(ws: Workspace, run_id: str, size: int, seed: int, into: str | None, as_json: bool) -> None:
    """Queue outputs RUN's judge graded for experts to grade, half judged pass and half judged fail,
    as pass/fail cases of a grades dataset the Label screen grades with p / x."""
    from dataclasses import asdict

    from core.labeling.judge_sample import sample_for_grading

    result = sample_for_grading(ws.db(), ws.load_config(), ws.config_path, run_id, size=size, seed=seed, into=into)
    if as_json:
        print_json(asdict(result))
    if result.config_updated:
        echo_err(f'added [tasks.judge-grade] kind = "pass_fail" to {safe(str(ws.config_path))}')
    name = safe(result.dataset)
    if not result.added:
        echo_err(f"nothing to add: all {result.already_queued} judged output(s) of run {run_id} are already in {name}")
        return
    echo_err(f"{'created' if result.created else 'added to'} {name}: {result.added} output(s) "
             f"({result.added_judged_pass} judged pass, {result.added_judged_fail} judged fail); "
             f"{result.ungraded_left} more not queued")
    echo_err(f"grade them with: assay label {name}   (p = pass, x = fail); then: assay judge-check {run_id}"
             + (f" --grades {name}" if into else ""))


def register(cli: click.Group) -> None:
    cli.add_command(judge_check)
    cli.add_command(judge_sample)
