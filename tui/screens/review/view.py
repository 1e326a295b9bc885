"""How the Review screen draws its data: verdict marks, class counts, figures rows, the case header
and each answer column (optionally as a word diff). Untrusted text goes through tui.render.plain;
styles are text attributes (bold, strike, reverse), never colours."""

from __future__ import annotations

from rich.text import Text

from core.common.figures import money, ms, num, pct, pct_range
from core.labeling.calibration import CalibrationReport, JudgeCalibration
from core.report.types import ALL, ContaminationFlag
from core.review.cases import CLASS_TITLES, CLASSES, CaseClass, CaseEntry, ModelMark
from core.review.compare import FigureRow, PairedVerdict
from core.review.detail import Answer, CaseDetail, DiffPiece, ScorerDetail
from tui.render import input_with_conversation, plain

GLYPHS = {"pass": "✓", "fail": "✗", "error": "E", "skipped": "S", "scorer_error": "!", "unscored": "?",
          "missing": "·"}
# The filter key of each class (tui/keymap.py REVIEW), shown next to its count.
CLASS_KEYS: dict[CaseClass, str] = {
    "all_pass": "p", "all_fail": "f", "disagree": "x", "a_only": "A", "b_only": "B", "regressed": "g",
    "improved": "i", "missing": "m", "call_error": "e", "scorer_error": "s", "unscored": "u", "overridden": "h",
}
LEGEND = "✓ pass  ✗ fail  E call error  S skipped  ! scorer error  ? unscored  · missing  underlined: human verdict"


def marks(row_marks: tuple[ModelMark, ...]) -> Text:
    out = Text()
    for m in row_marks:
        out.append(GLYPHS[m.verdict], style="underline bold" if m.overridden else "")
    return out


def entry_marks(entry: CaseEntry) -> Text:
    out = marks(entry.marks)
    if entry.baseline is not None:
        out.append(" was ", style="dim")
        out.append(marks(entry.baseline))
    return out


def class_counts(counts: dict[CaseClass, int], active: CaseClass | None, *, baseline: bool, a: str | None,
                 b: str | None) -> Text:
    out = Text()
    for cls in CLASSES:
        if cls in ("regressed", "improved") and not baseline:
            continue
        if cls in ("a_only", "b_only") and (a is None or b is None):
            continue
        if out:
            out.append("  ")
        style = "reverse bold" if cls == active else ("" if counts[cls] else "dim")
        out.append(f"{CLASS_KEYS[cls]} {CLASS_TITLES[cls]} {counts[cls]}", style=style)
    return out


CONTAMINATED = " †"  # after a model the dataset's contamination probe suspects (explained under the table)


def figure_cells(row: FigureRow, contaminated: bool = False) -> tuple[Text, ...]:
    f = row.figures
    rate = Text(pct(f.pass_rate))
    if f.pass_rate_ci95 is not None:
        rate.append(f" ({pct_range(f.pass_rate_ci95)})", style="dim")
    model = plain(row.model, single_line=True, max_len=24)
    if contaminated:
        model.append(CONTAMINATED, style="bold")
    return (model, plain("all" if row.task_type == ALL else row.task_type, single_line=True, max_len=14),
            rate, Text(pct(f.pass_rate_incl_errors)), Text(num(f.mean_score)), Text(ms(f.latency_p50_ms)),
            Text(ms(f.latency_p95_ms)), Text(money(f.cost_usd, f.cost_status)),
            Text(money(f.cost_per_correct, f.cost_status)), Text(f"{f.n}"))


def _judge_line(j: JudgeCalibration) -> Text:
    out = Text("judge ")
    out.append(plain(j.judge_model, single_line=True, max_len=30, style="bold"))
    out.append(" (")
    out.append(plain(j.scorer, single_line=True, max_len=24))
    out.append(f", rubric {j.judge_prompt_hash[:8]}): kappa {num(j.kappa, 2)}")
    if j.kappa_ci95 is not None:
        out.append(f" (95% CI {num(j.kappa_ci95[0], 2)}–{num(j.kappa_ci95[1], 2)})")
    out.append(f", agreement {pct(j.percent_agreement, 0)} on {j.graded} expert-graded of {j.judged_outputs} · ")
    if j.calibrated:
        out.append("calibrated")
    else:
        out.append("UNCALIBRATED", style="bold reverse")
        out.append(": ")
        out.append(plain("; ".join(j.reasons), single_line=True, max_len=120))
    return out


def trust(contamination: dict[str, ContaminationFlag], calibration: CalibrationReport | None,
          saturation: str | None = None) -> Text:
    """Under the figures: each suspected model's probe figures, each judge's calibration
    (`assay judge-check RUN` has every figure), then the client-saturation note on the latencies.
    Empty when there is nothing to say."""
    lines = []
    for model, flag in contamination.items():
        line = Text(CONTAMINATED.strip() + " ", style="bold")
        line.append(plain(model, single_line=True, max_len=30, style="bold"))
        line.append(" ")
        line.append(plain(flag.note, single_line=True, max_len=200))
        lines.append(line)
    lines += [_judge_line(j) for j in (calibration.judges if calibration else [])]
    if saturation:  # our own text, but it quotes nothing untrusted: no markup parsing either way
        lines.append(Text(saturation.removeprefix("Note: "), style="bold"))
    return Text("\n").join(lines)


def paired(verdicts: list[PairedVerdict] | None) -> Text:
    if verdicts is None:
        return Text("paired test: computing (McNemar, bootstrap)…", style="dim")
    if not verdicts:
        return Text("paired test: needs two models, or a baseline (b)", style="dim")
    out = Text()
    for v in verdicts:
        c = v.comparison
        if out:
            out.append("\n")
        out.append(plain(v.a, single_line=True, max_len=24, style="bold"))
        out.append(" vs ")
        out.append(plain(v.b, single_line=True, max_len=34, style="bold"))
        out.append(f": {pct(c.pass_rate_a)} vs {pct(c.pass_rate_b)}, McNemar p={c.mcnemar_p:.3g}, score diff "
                   f"{num(c.score_diff)}")
        if c.score_diff_ci95 is not None:
            out.append(f" [{num(c.score_diff_ci95[0])}, {num(c.score_diff_ci95[1])}]")
        out.append(f" · {v.matched} matched, {v.missing} missing, {v.new} new · ")
        out.append(plain(c.verdict, single_line=True, style="bold"))
    return out


def case_head(d: CaseDetail) -> Text:
    out = Text("Case ", style="bold")
    out.append(plain(d.case_id, single_line=True, max_len=60, style="bold"))
    out.append(f"  repeat {d.repeat}  ·  ")
    out.append(plain(d.task_type, single_line=True, max_len=30))
    if d.difficulty:
        out.append("  ·  ")
        out.append(plain(d.difficulty, single_line=True, max_len=20))
    out.append("\n")
    out.append(input_with_conversation(plain(d.input_text, max_len=2000), d.metadata, max_len=500)[0])
    out.append("\n\nGround truth: ", style="bold")
    out.append(plain(d.expected, max_len=2000) if d.expected is not None else Text("(unlabeled)", style="dim"))
    return out


def _scorer(s: ScorerDetail) -> Text:
    out = Text("\n")
    mark = "!" if s.status == "error" else "✓" if s.passed else "✗"
    out.append(f"{mark} ")
    out.append(plain(s.scorer, single_line=True, max_len=30, style="bold"))
    if s.score is not None:
        out.append(f" {s.score:.2f}")
    if s.error:
        out.append("\n  error: ")
        out.append(plain(s.error, max_len=400))
    for f in s.fields:
        out.append(f"\n  {'✓' if f.verdict == 'match' else '✗'} ")
        out.append(plain(f.name, single_line=True, max_len=30))
        out.append(f" {f.verdict}")
        if f.verdict != "match":
            out.append(": want ")
            out.append(plain(f.expected, single_line=True, max_len=40))
            out.append(", got ")
            out.append(plain(f.got, single_line=True, max_len=40))
    if s.extra_keys:
        out.append("\n  extra keys: ")
        out.append(plain(", ".join(s.extra_keys), single_line=True, max_len=80))
    if s.predicted is not None:
        out.append("\n  predicted ")
        out.append(plain(s.predicted, single_line=True, max_len=40, style="bold"))
        out.append(", expected ")
        out.append(plain(s.expected, single_line=True, max_len=40, style="bold"))
        if s.valid_label is False:
            out.append(" (not a valid label)")
    for a in s.assertions:
        out.append(f"\n  {'✓' if a.passed else '✗'} ")
        out.append(plain(a.type, single_line=True, max_len=40))
        if a.reason:
            out.append(": ")
            out.append(plain(a.reason, max_len=300))
    if s.reason and not s.error:
        out.append("\n  reason: ")
        out.append(plain(s.reason, max_len=600))
    return out


def diff_text(pieces: list[DiffPiece]) -> Text:
    """Deleted words struck through, inserted words reversed."""
    out = Text()
    for p in pieces:
        out.append(plain(p.text, style={"equal": "", "delete": "strike dim", "insert": "reverse"}[p.op]))
    return out


def answer(a: Answer, label: str, body: Text | None = None) -> Text:
    """One answer column: who, verdict and score, the human verdict, the output (or `body`, a
    diff), the call's error, then each scorer's details."""
    out = Text(f"{label}: ", style="bold")
    out.append(plain(a.model, single_line=True, max_len=40, style="bold"))
    if a.baseline:
        out.append(" (baseline)")
    out.append(f"\n{GLYPHS[a.verdict]} {a.verdict.replace('_', ' ')}")
    if a.score is not None:
        out.append(f"  score {a.score:.2f}")
    if a.latency_ms is not None:
        out.append(f"  {ms(a.latency_ms)} ms")
    if a.override is not None:
        o = a.override
        out.append(f"\nhuman verdict ({'pass' if o.passed else 'fail'}, was {o.replaces}) by ", style="underline")
        out.append(plain(o.annotator, single_line=True, max_len=30, style="underline"))
        out.append(": ")
        out.append(plain(o.reason, max_len=300))
    out.append("\n\n")
    if a.error:
        out.append(plain(a.error, max_len=600))
    elif a.status == "missing":
        out.append("(no answer in this run)", style="dim")
    else:
        out.append(body if body is not None else plain(a.output, max_len=8000))
    for s in a.scorers:
        out.append("\n")
        out.append(_scorer(s))
    return out
