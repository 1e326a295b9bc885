"""How the Run screen reads: the estimate, the live per-model cells, the error log, the history rows
and the end-of-run summary, as rich `Text` built from typed core results.

Pure functions (no widgets), so the screen only decides *when* to repaint. Figures are formatted
by core.common.figures (the report's formats); every name that comes from the config, a dataset
or a provider goes through `tui.render.plain`. `stable` hides wall-clock figures (latency, elapsed,
ETA, start times) so a screenshot is reproducible.
"""

from __future__ import annotations

import math

from rich.table import Table
from rich.text import Text

from core.common.figures import duration, money, ms, pct
from core.run.estimate import ModelEstimate, RunEstimate
from core.run.events import Progress, RunFinished
from core.run.history import RunSummary
from core.run.live import LiveModel, LiveSnapshot, LogEntry
from tui.render import plain

BAR_WIDTH = 10
LOG_LINES = 6  # newest entries of the bounded error log shown under the table
HIDDEN = "~"  # a wall-clock figure under stable display

LIVE_COLUMNS = (("model", "Model"), ("bar", "Progress"), ("done", "Done"), ("ok", "OK"), ("errors", "Err"),
                ("retries", "Retry"), ("cached", "Cached"), ("spend", "Spend"), ("p50", "p50 ms"),
                ("pass", "Pass"), ("breaker", "Breaker"))
HISTORY_COLUMNS = (("started", "Started"), ("id", "Run"), ("dataset", "Dataset"), ("models", "Models"),
                   ("pass", "Pass rates"), ("cost", "Cost"), ("status", "Status"))  # pass rates in model order
_STATUS_STYLE = {"finished": "green", "running": "bold", "interrupted": "yellow", "stale": "yellow",
                 "failed": "bold red"}


def _count(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1000:.1f}k" if n >= 10_000 else str(n)


def _money_or_unknown(x: float | None) -> str:
    return money(x, missing="unknown")


def bar(done: int, total: int, width: int = BAR_WIDTH) -> Text:
    frac = done / total if total else 0.0
    filled = round(frac * width)
    out = Text("█" * filled, style="green")
    out.append("░" * (width - filled), style="dim")
    return out


# --- the estimate -------------------------------------------------------------------------------------


def _output(m: ModelEstimate) -> str:
    if m.logged:
        return "-"
    bound = f"≤{_count(m.output_tokens_max)}" if m.max_tokens else "no bound"
    return f"{bound} / {_count(m.output_tokens_expected)}"


def _cost(m: ModelEstimate) -> str:
    if m.logged:
        return "none (no calls)"
    if m.price_source is None:
        return "looking up…"
    if m.price_source == "unknown":
        return "unknown (no price)"
    return f"≤{_money_or_unknown(m.cost_max_usd)} / {money(m.cost_expected_usd)}"


def estimate_table(est: RunEstimate) -> Table:
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold", expand=False)
    for title, justify in (("Model", "left"), ("Calls", "right"), ("Input tok", "right"),
                           ("Output tok max / exp.", "right"), ("Cost max / exp.", "right"), ("Time", "right")):
        table.add_column(title, justify=justify)  # type: ignore[arg-type]
    for m in est.models:
        calls = f"{m.calls} logged" if m.logged else f"{m.calls} ({m.cached} cached)" if m.cached else str(m.calls)
        table.add_row(plain(m.model, single_line=True, max_len=24), calls, _count(m.input_tokens),
                      _output(m), _cost(m), duration(m.duration_s, missing="unknown"))
    return table


def _startup_note(est: RunEstimate) -> str | None:
    """How the estimate's time splits between start-up and calls; None when start-up is negligible."""
    where = f"{est.workers} worker processes starting" if est.workers > 1 else "importing litellm"
    if est.startup_s is None:
        what = f"the start-up of {est.workers} worker processes" if est.workers > 1 else "litellm's import"
        return f"the calls only; {what} is not measured yet"
    if est.startup_s < 0.5:
        return None
    return f"{duration(est.startup_s)} {where} + {duration(est.duration_s)} calls"


def estimate_head(est: RunEstimate) -> Text:
    out = Text("Estimate  ", style="bold")
    out.append(plain(est.dataset, single_line=True, max_len=30))
    out.append(" (current content)" if est.dataset_version is None else f" v{est.dataset_version}")
    out.append(f" · {est.cases} cases × {len(est.models)} models × repeat {est.repeat} = {est.calls} calls")
    if est.cached:
        out.append(f" ({est.cached} from the cache)")
    out.append(f" · concurrency {est.concurrency}")
    total = Text("\nTotal: ")
    total.append(f"{_count(est.input_tokens)} input tokens · cost ")
    if any(m.price_source is None for m in est.models):
        total.append("looking up prices…")
    else:
        total.append(f"≤{_money_or_unknown(est.cost_max_usd)}")
        if est.cost_expected_usd is not None:
            total.append(f", expected {money(est.cost_expected_usd)}")
    calls = est.duration_s
    total.append(f" · time {duration(est.wall_s if est.wall_s is not None else calls, missing='unknown')}")
    if calls is None:
        total.append(" (no rpm and no earlier run to measure latency)", style="dim")
    elif (note := _startup_note(est)) is not None:
        total.append(f" ({note})", style="dim")
    if calls and calls == est.client_s:
        workers = f" from {est.workers} worker processes" if est.workers > 1 else ""
        total.append(f"\ntime set by the client's own pace (≈{est.client_calls_s:.0f} calls/s{workers}), "
                     "not the models'", style="dim")
    measured = sorted({m.measured.run_id for m in est.models if m.measured is not None})
    if measured:
        total.append("\nexpected figures measured on ", style="dim")
        total.append(plain(", ".join(measured), style="dim", single_line=True, max_len=80))
    return out + total


# --- live ---------------------------------------------------------------------------------------------


def live_cells(m: LiveModel, *, stable: bool) -> dict[str, Text | str]:
    """One model's row, by column key."""
    spend = money(m.spend_usd)
    if m.spend_unknown:
        spend = f"≥{spend}" if m.spend_usd else "unknown"
    return {
        "model": plain(m.model, single_line=True, max_len=24),
        "bar": bar(m.done, m.total),
        "done": f"{m.done}/{m.total}",
        "ok": str(m.ok),
        "errors": Text(str(m.errors), style="bold red" if m.errors else ""),
        "retries": str(m.retries),
        "cached": str(m.cached),
        "spend": spend,
        "p50": HIDDEN if stable and m.latency_p50_ms is not None else ms(m.latency_p50_ms),
        "pass": pct(m.pass_rate),
        "breaker": Text("open: ", style="bold red") + plain(m.breaker, single_line=True) if m.breaker
        else Text("ok", style="dim"),
    }


def _spend(usd: float, unpriced: int) -> str:
    """What calls cost so far; unknown while none had a price (never "$0.0000")."""
    if unpriced and not usd:
        return f"unknown ({unpriced} unpriced)"
    return money(usd) + (f" (+{unpriced} unpriced)" if unpriced else "")


def live_head(snap: LiveSnapshot, *, stable: bool, cancel_level: int) -> Text:
    started = snap.started
    out = Text("Run ", style="bold")
    if started is None:
        out.append("starting: rendering every prompt…")
        return out
    out.append(plain(started.run_id, single_line=True))
    out.append("  ")
    out.append(plain(started.dataset, single_line=True, max_len=30))
    out.append(f" v{started.dataset_version}")
    if started.resumed:
        out.append(f" · resumed ({started.already_done} already done")
        out.append(f", {started.reopened} failed sent again)" if started.reopened else ")")
    p: Progress | None = snap.progress
    if p is None:
        out.append("\nwaiting for the first results…", style="dim")
    else:
        out.append(f"\n{p.done}/{p.total} done · {p.in_flight} in flight · "
                   f"spend {_spend(p.spend_usd, p.spend_unknown)}")
        if started.resumed:
            out.append(" this session")
        if not stable:
            out.append(f" · elapsed {duration(p.elapsed_s)} · ETA {duration(p.eta_s)}")
    if cancel_level == 1 and snap.finished is None:
        out.append("\nstopping: no new calls; calls on the wire may finish (c again stops at once)", style="yellow")
    elif cancel_level >= 2 and snap.finished is None:
        out.append("\nstopping now: cancelling the calls in flight", style="bold yellow")
    return out


def log_text(log: tuple[LogEntry, ...], lines: int = LOG_LINES) -> Text:
    if not log:
        return Text("no errors or retries", style="dim")
    by_class: dict[str, int] = {}
    for entry in log:
        by_class[entry.error_class] = by_class.get(entry.error_class, 0) + 1
    out = Text(f"{len(log)} logged (newest {min(lines, len(log))} below) · ", style="bold")
    out.append(plain(", ".join(f"{cls} {n}" for cls, n in sorted(by_class.items(), key=lambda kv: -kv[1])),
                     single_line=True, max_len=100))
    for entry in log[-lines:]:
        out.append("\n")
        out.append(f"{entry.kind:<7} ", style="bold red" if entry.kind != "retry" else "yellow")
        out.append(plain(entry.model, single_line=True, max_len=20))
        if entry.case_id:
            out.append(" ")
            out.append(plain(entry.case_id, single_line=True, max_len=24))
        out.append(" ")
        out.append(plain(entry.error_class, style="bold", single_line=True, max_len=20))
        out.append(": ")
        out.append(plain(entry.message, single_line=True, max_len=160))
    return out


def summary_text(done: RunFinished, *, stable: bool, resume_hint: bool) -> Text:
    style = {"finished": "bold green", "interrupted": "bold yellow"}.get(done.status, "bold red")
    out = Text(f"Run {done.status}", style=style)
    out.append(f"  {done.done}/{done.total} · ok {done.ok} · errors {done.errors} · skipped {done.skipped}"
               f" · retries {done.retries} · spend {_spend(done.spend_usd, done.spend_unknown)}")
    if not stable:
        out.append(f" · {duration(done.elapsed_s)}")
    if done.over_error_rate:
        out.append(f"\ninfrastructure errors {pct(done.infra_error_rate)} above the allowed "
                   f"{pct(done.max_error_rate)}", style="bold red")
    if done.scoring_errors:
        out.append(f"\n{done.scoring_errors} scorer errors (logged; the run went on)", style="yellow")
    out.append("\nv open in Review", style="bold")
    if resume_hint:
        out.append(" · r resume it (history list)", style="bold")
    return out


# --- history ------------------------------------------------------------------------------------------


def _pass_rates(run: RunSummary) -> str:
    return " ".join(pct(o.pass_rate, digits=0) for o in run.outcomes)


def _run_cost(run: RunSummary) -> str:
    costs = [o.cost_usd for o in run.outcomes if o.ok]
    if not costs:
        return "-"
    if any(c is None for c in costs):
        return "unknown"
    partial = any(o.cost_unknown for o in run.outcomes)
    return money(math.fsum(c for c in costs if c is not None), "partial" if partial else "known")


def history_cells(run: RunSummary, *, stable: bool) -> tuple[Text | str, ...]:
    started = HIDDEN if stable else run.created_at[5:16].replace("T", " ")
    dataset = plain(run.dataset, single_line=True, max_len=16)
    dataset.append(f" v{run.dataset_version}")
    return (started, plain(run.id, single_line=True), dataset,
            plain(", ".join(run.models), single_line=True, max_len=20), _pass_rates(run), _run_cost(run),
            _status(run))


def _status(run: RunSummary) -> Text:
    """The run's status, and how many of its calls failed (errors and breaker skips: `e` sends them again)."""
    out = Text(run.status, style=_STATUS_STYLE.get(run.status, ""))
    if run.failed:
        out.append(f" · {run.failed} failed", style="yellow")
    return out
