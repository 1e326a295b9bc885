"""`assay baseline set/list/clear` (core.trends.baselines) and `assay compare` (core.trends.compare,
judged by core.trends.alerts)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import click

from cli.context import echo_err, pass_ws
from cli.output import print_json, safe, table
from core.workspace import Workspace

if TYPE_CHECKING:
    from core.trends.alerts import Assessment, SeriesVerdict
    from core.trends.compare import CaseRef
    from core.trends.flags import SeriesFlags

FORMATS = ("table", "markdown", "json")
LISTED_CASES = 20  # per list in the table format (markdown and json list every case)


def _who(as_: str | None) -> str:
    from core.config.user import load_user_config, resolve_annotator

    return resolve_annotator(as_, load_user_config())


@click.group("baseline")
def baseline_group() -> None:
    """Pinned baselines: the approved run each dataset (or model) is compared with."""


@baseline_group.command("set")
@click.argument("run_id", metavar="RUN")
@click.option("--model", help="Pin RUN for this model only (default: for every model of the dataset).")
@click.option("--as", "as_", metavar="NAME", help="Who pins it (default: user config `annotator`, then $USER).")
@pass_ws
def baseline_set(ws: Workspace, run_id: str, model: str | None, as_: str | None) -> None:
    """Pin RUN (a finished run) as the baseline of its dataset. Replaces the pin in force, which
    stays in the history."""
    from core.trends.baselines import set_baseline

    pin = set_baseline(ws.db(), run_id, model=model, by=_who(as_))
    scope = f"model {safe(pin.model)} of dataset" if pin.model else "dataset"
    echo_err(f"baseline of {scope} {safe(pin.dataset)} is now run {pin.run_id} (pinned by {safe(pin.pinned_by)})")


@baseline_group.command("list")
@click.option("--all", "include_cleared", is_flag=True, help="Every pin ever made, cleared ones too, oldest first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ws
def baseline_list(ws: Workspace, include_cleared: bool, as_json: bool) -> None:
    """List the pinned baselines in force (with --all, their history)."""
    from core.trends.baselines import list_baselines

    pins = list_baselines(ws.db(), include_cleared=include_cleared)
    if as_json:
        print_json([asdict(p) for p in pins])
        return
    if not pins:
        echo_err("no baseline pinned (assay baseline set RUN)")
        return
    rows = [[safe(p.dataset), safe(p.model) if p.model else "(every model)", p.run_id, safe(p.pinned_by),
             p.pinned_at[:19].replace("T", " "), "in force" if p.in_force else f"cleared {p.cleared_at[:10]}"]
            for p in pins]
    click.echo(table(["dataset", "model", "run", "pinned by", "pinned (UTC)", "state"], rows, "llllll"))


@baseline_group.command("clear")
@click.argument("dataset")
@click.option("--model", help="Clear this model's pin (default: the dataset-wide pin).")
@click.option("--as", "as_", metavar="NAME", help="Who clears it (default: user config `annotator`, then $USER).")
@pass_ws
def baseline_clear(ws: Workspace, dataset: str, model: str | None, as_: str | None) -> None:
    """Clear the pinned baseline of DATASET (kept in the history)."""
    from core.trends.baselines import clear_baseline

    done = clear_baseline(ws.db(), dataset, model=model, by=_who(as_))
    what = f"model {safe(model)} of dataset {safe(dataset)}" if model else f"dataset {safe(dataset)}"
    echo_err(f"baseline of {what} cleared" if done else f"no baseline pinned for {what}")


# --- assay compare -------------------------------------------------------------------------------


def _p(x: float) -> str:
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def _cells(v: SeriesVerdict, f: SeriesFlags) -> list[str]:
    from core.common.figures import pct, pct_points
    from core.trends.alerts import STATUS_TITLES

    s = v.series
    score = pct_points(s.mean_score_diff)
    if s.mean_score_diff_ci95:
        score += f" ({pct_points(s.mean_score_diff_ci95[0])}..{pct_points(s.mean_score_diff_ci95[1])})"
    return [safe(s.model) if s.model == s.baseline_model else f"{safe(s.model)} vs {safe(s.baseline_model)}",
            safe(s.task_type), str(s.matched), str(s.missing), str(s.new), pct(s.pass_rate_baseline),
            pct(s.pass_rate_candidate), pct_points(s.pass_rate_diff), _p(s.mcnemar_p),
            "-" if v.q_value is None else _p(v.q_value), score, pct(s.flip_rate),
            "none" if s.mdd is None else pct_points(-s.mdd).lstrip("-"), STATUS_TITLES[v.status],
            ", ".join(f.markers) or "-"]


HEADERS = ["model", "task", "matched", "missing", "new", "baseline", "candidate", "Δ pass", "McNemar p", "BH q",
           "Δ score (95% CI)", "flips", "MDD", "verdict", "flags"]


def _flag_lines(a: Assessment, flags: tuple[SeriesFlags, ...]) -> list[tuple[str, str]]:
    """(series, one flag's note) for every flag of every series."""
    return [(v.series.series, note) for v, f in zip(a.verdicts, flags) for note in f.notes]


def _cases(refs: tuple[CaseRef, ...], limit: int | None) -> str:
    shown = [r.case_id if r.repeat == 0 else f"{r.case_id}#{r.repeat}" for r in refs[:limit]]
    more = len(refs) - len(shown)
    return ", ".join(shown) + (f" … and {more} more" if more > 0 else "")


def _lists(a: Assessment) -> list[tuple[str, str, tuple[CaseRef, ...]]]:
    """(model, which list, cases) of each model's (all) series, for the non-empty lists."""
    from core.report.types import ALL

    return [(v.series.model, name, refs) for v in a.verdicts if v.series.task_type == ALL
            for name, refs in (("newly failing", v.series.newly_failing), ("newly passing", v.series.newly_passing))
            if refs]


def _head(a: Assessment) -> str:
    c = a.comparison
    return (f"run {c.candidate_run_id} vs baseline {', '.join(c.baseline_run_ids)} on dataset {c.dataset}: "
            f"alert at a drop of {a.threshold_points:g} pts significant at BH q < {a.q:g} over {a.tested} series; "
            f"at least {a.min_matched} matched cases")


def _render_table(a: Assessment, flags: tuple[SeriesFlags, ...]) -> str:
    from core.trends.alerts import STATUS_TITLES

    rows = [_cells(v, f) for v, f in zip(a.verdicts, flags)]
    lines = [safe(_head(a)), "", table(HEADERS, rows, "llrrrrrrrrrrrll"), ""]
    lines += [f"{safe(v.series.series)}: {STATUS_TITLES[v.status]}: {safe(v.why)}" for v in a.verdicts]
    lines += [f"{safe(series)}: flag: {safe(note)}" for series, note in _flag_lines(a, flags)]
    lines += [f"{safe(model)} {name} ({len(refs)}): {safe(_cases(refs, LISTED_CASES))}"
              for model, name, refs in _lists(a)]
    if a.comparison.unpaired_models:
        lines.append("not compared (no counterpart in the baseline): "
                     + ", ".join(safe(m) for m in a.comparison.unpaired_models))
    return "\n".join(lines)


def _render_markdown(a: Assessment, flags: tuple[SeriesFlags, ...]) -> str:
    from core.report.render import markdown_cell as md

    lines = [f"# Assay comparison: run {md(a.comparison.candidate_run_id)}", "", md(_head(a)), "",
             "| " + " | ".join(md(h) for h in HEADERS) + " |", "|" + "|".join("---" for _ in HEADERS) + "|"]
    lines += ["| " + " | ".join(md(c) for c in _cells(v, f)) + " |" for v, f in zip(a.verdicts, flags)]
    lines += ["", "## Why", ""] + [f"- **{md(v.series.series)}**: {md(v.why)}" for v in a.verdicts]
    flagged = _flag_lines(a, flags)
    if flagged:
        lines += ["", "## Flags", ""] + [f"- **{md(series)}**: {md(note)}" for series, note in flagged]
    listed = _lists(a)
    if listed:
        lines += ["", "## Changed cases", ""] + [f"- {md(m)} {name} ({len(refs)}): {md(_cases(refs, None))}"
                                               for m, name, refs in listed]
    if a.comparison.unpaired_models:
        lines += ["", "Not compared (no counterpart in the baseline): "
                  + ", ".join(md(m) for m in a.comparison.unpaired_models)]
    return "\n".join(lines)


def register(cli: click.Group) -> None:
    cli.add_command(baseline_group)

    @cli.command("compare")
    @click.argument("runs", nargs=-1, required=True, metavar="RUN_A [RUN_B]")
    @click.option("--baseline", "pinned", is_flag=True, help="Compare RUN with its pinned baseline(s).")
    @click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
    @click.option("--fail-on-regression", is_flag=True, help="Exit 1 when a series is at alert level.")
    @pass_ws
    def compare_cmd(ws: Workspace, runs: tuple[str, ...], pinned: bool, fmt: str, fail_on_regression: bool) -> None:
        """Compare RUN_B (the candidate) with RUN_A (the baseline), or RUN with its pinned baseline
        (--baseline), case by case, per model and task type.

        \b
        assay compare r-20250101-120000-a1b2 r-20250201-120000-c3d4
        assay compare r-20250201-120000-c3d4 --baseline --fail-on-regression
        Per series: pass rates and their difference with exact McNemar p (and BH q), the mean-score
        difference with a paired bootstrap 95% CI, the flip rate, the minimum detectable drop (MDD)
        and the verdict ([alerts] threshold_points, q, min_matched); newly failing/passing cases.
        Flags: an uncalibrated judge scored the series, its difference is below the noise floor
        (|Δ pass| < MDD), or the dataset's contamination probe suspects the model.
        Exit codes: 0 ok, 1 an alert-level regression with --fail-on-regression, 2 usage error.
        """
        from core.errors import QualityGateFailed, UsageError
        from core.trends.alerts import compare_and_assess
        from core.trends.flags import comparison_flags, flagged_assessment

        if pinned and len(runs) != 1:
            raise UsageError("--baseline compares one run with its pinned baseline: give one RUN")
        if not pinned and len(runs) != 2:
            raise UsageError("give two runs (RUN_A the baseline, RUN_B the candidate), or one RUN with --baseline")
        candidate, baseline = (runs[0], None) if pinned else (runs[1], runs[0])
        cfg = ws.load_config()
        assessment = compare_and_assess(ws.db(), candidate, baseline, cfg.alerts)
        flags = comparison_flags(ws.db(), cfg, assessment.comparison)
        if fmt == "json":
            print_json(flagged_assessment(assessment, flags))
        elif fmt == "markdown":
            click.echo(_render_markdown(assessment, flags))
        else:
            click.echo(_render_table(assessment, flags))
        if fail_on_regression and assessment.alerts:
            names = ", ".join(safe(v.series.series) for v in assessment.alerts)
            raise QualityGateFailed(f"{len(assessment.alerts)} alert-level regression(s): {names}")
