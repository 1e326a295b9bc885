"""Renderers for a report (core.report.types.Report, from core.report.build.build_report): table,
markdown, csv, json, junit.

Untrusted text (case ids, labels, field names, error messages) goes through `safe_text` for the
terminal, is escaped for Markdown (no live links or HTML), guarded against spreadsheet formula
injection in CSV, JSON-escaped (ASCII only) in JSON, and stripped of characters XML 1.0 forbids
in JUnit.
"""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from core.common.figures import money, ms, num, pct, pct_points, pct_range
from core.common.safe_text import safe_text
from core.report.types import ALL, ContaminationFlag, GroupFigures, JudgeStatus, PairwiseComparison, Report
from core.run.lag import saturated

FORMATS = ("table", "markdown", "csv", "json", "junit")

# --- figures as text ------------------------------------------------------------------------------


def _p(x: float) -> str:
    return f"{x:.4f}" if x >= 0.0001 else f"{x:.1e}"


QUALITY = ["model", "task type", "n", "scored", "passed", "pass rate", "95% CI", "incl. errors", "mean score",
           "errors", "skipped", "scorer err", "unscored"]
COST = ["model", "task type", "p50 ms", "p95 ms", "client p50", "TTFT p50", "tokens in", "tokens out", "cost",
        "cost/case", "cost/correct", "judge cost"]


def _quality_row(model: str, group: str, s: GroupFigures) -> list[str]:
    return [model, group, str(s.n), str(s.scored), str(s.passed), pct(s.pass_rate),
            pct_range(s.pass_rate_ci95), pct(s.pass_rate_incl_errors), num(s.mean_score),
            str(s.errors), str(s.skipped), str(s.scorer_errors), str(s.unscored)]


def _cost_row(model: str, group: str, s: GroupFigures) -> list[str]:
    st = s.cost_status
    return [model, group, ms(s.latency_p50_ms), ms(s.latency_p95_ms), ms(s.client_p50_ms),
            ms(s.first_token_p50_ms), "-" if s.input_tokens is None else str(s.input_tokens),
            "-" if s.output_tokens is None else str(s.output_tokens), money(s.cost_usd, st), money(s.cost_per_case, st),
            money(s.cost_per_correct, st) if s.passed else "-",
            money(s.judge_cost_usd, s.judge_cost_status) if s.judge_scores else "-"]


PAIRS = ["A", "B", "pairs", "pass A", "pass B", "diff", "only A", "only B", "McNemar p", "score diff",
         "95% CI", "verdict"]


def _pair_row(c: PairwiseComparison) -> list[str]:
    return [c.a, c.b, str(c.pairs), pct(c.pass_rate_a), pct(c.pass_rate_b),
            pct_points(c.pass_rate_diff), str(c.a_only_passed), str(c.b_only_passed), _p(c.mcnemar_p),
            num(c.score_diff),
            "-" if c.score_diff_ci95 is None else f"{c.score_diff_ci95[0]:+.3f}…{c.score_diff_ci95[1]:+.3f}",
            c.verdict + (f"; {c.noise_floor.note}" if c.noise_floor else "")]


CONTAMINATED = " (contaminated?)"  # after a model the dataset's contamination probe suspects
CONTAMINATION = ["model", "probe run", "version", "cases", "continued", "control", "p", "expected recalled",
                 "chance", "p (expected)"]


def _contamination_row(c: ContaminationFlag) -> list[str]:
    return [c.model, c.probe_run_id, f"v{c.dataset_version}", str(c.cases), pct(c.flagged_share, 0),
            pct(c.control_share, 0), "-" if c.p_value is None else _p(c.p_value), pct(c.expected_share, 0),
            pct(c.expected_chance_share, 0), "-" if c.expected_p_value is None else _p(c.expected_p_value)]


JUDGES = ["scorer", "judge model", "rubric", "graded", "kappa", "status"]


def _judge_row(j: JudgeStatus) -> list[str]:
    return [j.scorer, j.judge_model, j.judge_prompt_hash[:12], str(j.graded), num(j.kappa),
            "calibrated" if j.calibrated else "UNCALIBRATED: " + "; ".join(j.reasons)]


def _sections(report: Report) -> list[tuple[str, list[str], list[list[str]], str | None]]:
    """(title, headers, rows, note) for every table of the report, in order."""
    groups = [ALL] + (report.task_types if len(report.task_types) > 1 else [])
    quality, cost = [], []
    for model in report.models:
        for group in groups:
            s = report.figures(model, group)
            if s:
                quality.append(_quality_row(model + (CONTAMINATED if report.contaminated(model) else ""), group, s))
                cost.append(_cost_row(model, group, s))
    out = [
        ("Quality", QUALITY, quality,
         "pass rate = passed / scored (95% Wilson CI); incl. errors = passed / (scored + errors + skipped + scorer "
         "errors)"),
        ("Latency and cost", COST, cost,
         "latency excludes cached answers; client p50 = the client's own time before a request went out "
         "(litellm, a busy event loop or worker), never part of latency; TTFT = time to first token (streamed runs "
         "only); cost counts cached answers at their original price; ≥ = some costs unknown (lower bound)"),
    ]
    for model, by_task in report.field_accuracy.items():
        for task, acc in by_task.items():
            rows = [[name, str(f.n), str(f.match), str(f.wrong), str(f.missing), str(f.extra), pct(f.accuracy)]
                    for name, f in sorted(acc.items())]
            out.append((f"Field accuracy: {model} / {task}",
                        ["field", "n", "match", "wrong", "missing", "extra", "accuracy"], rows, None))
    for model, by_task in report.confusion.items():
        for task, m in by_task.items():
            rows = [[e, *(str(m.matrix[e][c]) for c in m.columns)] for e in m.labels]
            out.append((f"Confusion matrix: {model} / {task} (rows expected, columns predicted)",
                        ["expected \\ predicted", *m.columns], rows,
                        f"invalid labels: {m.invalid} of {m.n}"))
            per = [[label, str(c.support), num(c.precision), num(c.recall), num(c.f1)]
                   for label, c in m.per_class.items()]
            out.append((f"Per class: {model} / {task}", ["label", "support", "precision", "recall", "F1"], per, None))
    if report.judges:
        out.append(("Judge calibration (judge verdicts against expert grades)", JUDGES,
                    [_judge_row(j) for j in report.judges],
                    f"assay judge-check {report.run.id} shows agreement, kappa CI and the confusion matrix; "
                    f"assay judge-sample {report.run.id} queues outputs for experts to grade"))
    if report.contamination:
        out.append(("Contamination (the dataset's latest contamination probe)", CONTAMINATION,
                    [_contamination_row(c) for c in report.contamination],
                    "continued = inputs whose first half the model continued verbatim, vs its shuffled control; "
                    "expected recalled = expected outputs it gave without the input, vs chance; p = exact McNemar. "
                    "A suspected model may have seen these cases: its figures here can overstate it "
                    "(assay probe show RUN)"))
    if report.pairwise:
        noisy = any(c.noise_floor for c in report.pairwise)
        out.append(("Pairwise comparison (same case and repeat)", PAIRS, [_pair_row(c) for c in report.pairwise],
                    "verdict from the exact McNemar test at alpha 0.05; score diff = mean(A - B) with a paired "
                    "bootstrap 95% CI"
                    + ("; below the noise floor: the difference is smaller than the minimum detectable one "
                       "(MDD, 80% power) at the flip rate measured between this run's repeats" if noisy else "")))
    return out


SATURATION_NOTE = "Note: CLIENT SATURATED"


def _title(report: Report) -> str:
    run = report.run
    rounds = ", ".join(map(str, report.score_rounds)) or "none"
    title = (f"Run {run.id}: dataset {run.dataset} v{run.dataset_version}, models "
             f"{', '.join(run.models)}, {run.repeats} repeat(s), prompt {run.prompt}, {run.status}; "
             f"score round(s) {rounds}")
    if report.overrides:
        title += f"; {report.overrides} verdict(s) are human overrides"
    if report.uncalibrated_judges:
        names = ", ".join(f"{j.judge_model} ({j.scorer})" for j in report.uncalibrated_judges)
        title += f"; UNCALIBRATED judge: {names}, see Judge calibration"
    if report.contamination:
        title += f"; CONTAMINATION suspected: {', '.join(c.model for c in report.contamination)}, see Contamination"
    return title


def saturation_note(report: Report) -> str | None:
    """The line under the title when the client was CPU-saturated during the run (core.run.lag),
    saying which latencies include its queueing: those timed on the event loop do, those the
    kernel timed do not. A line of its own, not part of the title: it depends on the machine's
    load, like the latency figures themselves."""
    run = report.run
    if not saturated(run.loop_lag_p50_ms, run.client_p50_ms):
        return None
    measured = []
    if run.loop_lag_p50_ms is not None:
        measured.append(f"event loop lag p50 {run.loop_lag_p50_ms:.0f} ms, p95 {run.loop_lag_p95_ms or 0:.0f} ms")
    if run.client_p50_ms is not None:
        measured.append(f"calls spent p50 {run.client_p50_ms:.0f} ms in the client before going out")
    loop_timed = run.latency_n - run.latency_kernel_n
    if not loop_timed:
        effect = "latencies were timed by the kernel and exclude that wait, which slowed the run, not its latencies"
    elif run.latency_kernel_n:
        effect = (f"{loop_timed} of {run.latency_n} latencies were timed on the event loop and include the "
                  "client's own queueing; the kernel timed the others, which exclude it")
    else:
        effect = "its latencies include the client's own queueing, not only the provider's time"
    return f"{SATURATION_NOTE}: {'; '.join(measured)} during the run, so {effect}"


# --- table -----------------------------------------------------------------------------------


def _grid(headers: list[str], rows: list[list[str]]) -> list[str]:
    cells = [[safe_text(c, single_line=True, max_len=60) for c in row] for row in [headers, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        # Text columns left-aligned, figures right-aligned (a cell is a figure if it starts like one).
        parts = [c.rjust(w) if re.match(r"^[-+≥$0-9.]", c) and i > 0 else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(parts).rstrip()

    return [line(cells[0]), "  ".join("-" * w for w in widths), *(line(r) for r in cells[1:])]


def render_table(report: Report) -> str:
    note = saturation_note(report)
    lines = [safe_text(_title(report)), *([note] if note else []), ""]
    for title, headers, rows, note in _sections(report):
        lines += [safe_text(title), *_grid(headers, rows)]
        if note:
            lines.append(safe_text(note))
        lines.append("")
    return "\n".join(lines)


# --- markdown --------------------------------------------------------------------------------

# Enough to keep a cell inert: no emphasis, code, links/images, strikethrough or column breaks.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def markdown_cell(text: str) -> str:
    """Untrusted text made inert inside a Markdown table cell or line (every Markdown renderer here)."""
    text = safe_text(text, single_line=True)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def render_markdown(report: Report) -> str:
    note = saturation_note(report)
    lines = [f"# Assay report: run {markdown_cell(report.run.id)}", "", markdown_cell(_title(report)),
             *(["", markdown_cell(note)] if note else []), ""]
    for title, headers, rows, note in _sections(report):
        lines += [f"## {markdown_cell(title)}", "", "| " + " | ".join(markdown_cell(h) for h in headers) + " |",
                  "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(markdown_cell(c) for c in row) + " |" for row in rows]
        if note:
            lines += ["", f"_{markdown_cell(note)}_"]
        lines.append("")
    return "\n".join(lines)


# --- csv -------------------------------------------------------------------------------------

CSV_FIELDS = [
    "run_id", "model", "task_type", "n", "ok", "scored", "passed", "failed", "errors", "skipped", "scorer_errors",
    "unscored", "pass_rate", "pass_rate_ci95_low", "pass_rate_ci95_high", "pass_rate_incl_errors", "mean_score",
    "latency_p50_ms", "latency_p95_ms", "latency_n", "client_p50_ms", "first_token_p50_ms", "first_token_p95_ms",
    "cached", "input_tokens", "output_tokens", "cost_usd",
    "cost_status", "cost_unknown_results", "cost_per_case", "cost_per_correct", "judge_cost_usd", "judge_cost_status",
]


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # a spreadsheet must not read a model or task name as a formula
    return value


def render_csv(report: Report) -> str:
    """One row per model and task type (task_type "(all)" = every task type)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for model in report.models:
        for group, s in report.summary[model].items():
            ci = s.pass_rate_ci95 or (None, None)
            row = {**{k: getattr(s, k, None) for k in CSV_FIELDS}, "run_id": report.run.id, "model": model,
                   "task_type": group, "pass_rate_ci95_low": ci[0], "pass_rate_ci95_high": ci[1]}
            writer.writerow({k: _csv_cell(v) for k, v in row.items()})
    return buf.getvalue()


# --- json ------------------------------------------------------------------------------------


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=True, allow_nan=False) + "\n"


# --- junit -----------------------------------------------------------------------------------

_XML_ILLEGAL = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: Any) -> str:
    """Text XML 1.0 can hold: forbidden characters (most C0 controls, lone surrogates, U+FFFE/F)
    are removed; ElementTree escapes the rest (&, <, >, quotes)."""
    return _XML_ILLEGAL.sub("", "" if value is None else str(value))


def render_junit(report: Report) -> str:
    """One <testsuite> per model; one <testcase> per case x model (x repeat when repeats > 1),
    named "<case id> [<model>]". fail -> <failure>, scorer error or call error -> <error>,
    skipped call or unscored case -> <skipped>."""
    run = report.run
    repeats = run.repeats > 1 or any(e.repeat for e in report.results)
    root = ET.Element("testsuites", name=xml_text(f"assay {run.id}"))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for model in report.models:
        results = [e for e in report.results if e.model == model]
        suite = ET.SubElement(root, "testsuite", name=xml_text(model))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        seconds = 0.0
        for e in sorted(results, key=lambda e: (e.case_id, e.repeat)):
            name = f"{e.case_id} [{model}]" + (f" #{e.repeat}" if repeats else "")
            case = ET.SubElement(suite, "testcase", name=xml_text(name),
                                 classname=xml_text(f"assay.{run.dataset}.{e.task_type}"),
                                 time=f"{(e.latency_ms or 0) / 1000:.3f}")
            seconds += (e.latency_ms or 0) / 1000
            counts["tests"] += 1
            verdict, message = e.verdict, xml_text(e.message or "")
            if verdict == "fail":
                counts["failures"] += 1
                el = ET.SubElement(case, "failure", message=message[:1000], type="assay.fail")
                el.text = message
            elif verdict in ("error", "scorer_error"):
                counts["errors"] += 1
                el = ET.SubElement(case, "error", message=message[:1000], type=f"assay.{verdict}")
                el.text = message
            elif verdict in ("skipped", "unscored"):
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message="not scored (no expected output and no assertions)"
                              if verdict == "unscored" else message[:1000])
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
        suite.set("time", f"{seconds:.3f}")
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


RENDERERS: dict[str, Callable[[Report], str]] = {
    "table": render_table, "markdown": render_markdown, "csv": render_csv, "json": render_json,
    "junit": render_junit,
}


def render(report: Report, fmt: str) -> str:
    return RENDERERS[fmt](report)
