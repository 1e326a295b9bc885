"""`assay run` (run or resume) and `assay runs` (history).

Thin: parse, call core.run.engine, print. Progress goes to stderr (redrawn with \\r only on a TTY,
occasional plain lines otherwise), the summary table or `--json` object to stdout. Signals are
handled here, never in the engine: the first Ctrl+C (or SIGTERM) asks the engine to stop
gracefully, the second quits at once (committed rows stay; a resume redoes the calls in flight).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import click

from cli.alert_cmds import check_finished_run
from cli.context import echo_err, pass_ws
from cli.output import print_json, safe, table
from core.common.figures import duration, money, ms
from core.run import events as ev  # plain dataclasses: light enough for start-up
from core.workspace import Workspace

if TYPE_CHECKING:
    from core.run.worker_start import StartedWorkers
    from core.run.plan import RunRequest

# Plain lines on a non-TTY stderr at most this often (CI logs stay readable).
PLAIN_EVERY_S = 5.0


def _spend(usd: float | None, unpriced_calls: int) -> str:
    """Spend so far: a lower bound (≥) while some calls had no known price, unknown while none had."""
    if unpriced_calls and not usd:
        return "unknown (no price)"
    return money(usd, "partial" if unpriced_calls else "known", missing="n/a")


def _workers(n: int, remote: bool) -> str:
    if not remote:
        return "requests sent from this process"
    return f"requests sent from {n} worker process{'es' if n > 1 else ''}"


def resume_hint(ws: Workspace, run_id: str, stream: bool | None = None) -> str:
    """The command that resumes this run from the user's current folder, with this invocation's
    --stream/--no-stream flag."""
    from core.run.history import resume_command

    return resume_command(run_id, root=ws.root, db_path=ws.db_path, stream=stream)


class ProgressPrinter:
    """The event sink of a CLI run: a progress line on stderr."""

    def __init__(self, stream: Any = None):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_plain = 0.0
        self._last_done = -1
        self._drawn = False
        self.run_id: str | None = None
        self.on_started: Callable[[ev.RunStarted], None] | None = None
        self.stream_flag: bool | None = None  # --stream/--no-stream, repeated in resume hints
        self.already_done = 0  # a resumed run's calls done before this process

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def _clear(self) -> None:
        if self._drawn:
            self._write("\r\x1b[2K")
            self._drawn = False

    def line(self, text: str) -> None:
        """A message that must stay on screen (the progress line is redrawn after it)."""
        self._clear()
        self._write(text + "\n")

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted):
            self.run_id, self.already_done = event.run_id, event.already_done
            if self.on_started is not None:  # before the line: once it shows, Ctrl+C stops gracefully
                self.on_started(event)
            what = "resuming" if event.resumed else "run"
            done = f", {event.already_done} already done" if event.resumed else ""
            if event.reopened:
                done += f", {event.reopened} failed call{'s' if event.reopened > 1 else ''} sent again"
            self.line(f"{what} {event.run_id}: dataset {safe(event.dataset)} v{event.dataset_version}, "
                      f"{len(event.models)} model(s) x {event.total // max(1, len(event.models) * event.repeat)} "
                      f"case(s) x {event.repeat} repeat(s) = {event.total} calls{done}, "
                      f"concurrency {event.concurrency}, {_workers(event.workers, event.remote)}")
        elif isinstance(event, ev.Progress):
            self._progress(event)
        elif isinstance(event, ev.BreakerOpened):
            self.line(f"model {safe(event.model)}: {safe(event.reason, 300)} - remaining calls skipped")
        elif isinstance(event, ev.RunFinished):
            self._clear()

    def _progress(self, p: ev.Progress) -> None:
        pct = 100 * p.done / p.total if p.total else 100.0
        text = (f"[{p.done}/{p.total}] {pct:3.0f}%  ok {p.ok}  errors {p.errors}  skipped {p.skipped}  "
                f"retries {p.retries}  spend {_spend(p.spend_usd, p.spend_unknown)}  "
                f"elapsed {duration(p.elapsed_s)}  ETA {duration(p.eta_s)}")
        if self.tty:
            self._write("\r\x1b[2K" + text)
            self._drawn = True
            return
        now = time.monotonic()
        finished = p.done == p.total and self._last_done != p.total
        if finished or (now - self._last_plain >= PLAIN_EVERY_S and p.done != self._last_done):
            self._last_plain, self._last_done = now, p.done
            self._write(text + "\n")


def _figures_json(finished: ev.RunFinished) -> dict[str, Any]:
    return {
        "run_id": finished.run_id, "status": finished.status, "total": finished.total, "done": finished.done,
        "ok": finished.ok, "errors": finished.errors, "skipped": finished.skipped, "retries": finished.retries,
        "infra_errors": finished.infra_errors, "infra_error_rate": finished.infra_error_rate,
        "max_error_rate": finished.max_error_rate, "spend_usd": finished.spend_usd,
        "spend_unknown_calls": finished.spend_unknown, "elapsed_s": round(finished.elapsed_s, 3),
        "scoring_errors": finished.scoring_errors, "resume_command": finished.resume_command,
        "models": {m.model: {k: v for k, v in asdict(m).items() if k != "model"} for m in finished.models},
    }


def _summary_table(finished: ev.RunFinished) -> str:
    rows = [[
        safe(m.model), str(m.n), str(m.ok), str(m.errors), str(m.skipped), str(m.cached),
        ms(m.latency_p50_ms, "n/a"), ms(m.latency_p95_ms, "n/a"), str(m.input_tokens), str(m.output_tokens),
        money(m.cost_usd, missing="n/a"),
    ] for m in finished.models]
    return table(["model", "n", "ok", "errors", "skipped", "cached", "p50 ms", "p95 ms", "tokens in",
                   "tokens out", "cost"], rows, "lrrrrrrrrrr")


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _quit_now(ws: Workspace, printer: ProgressPrinter) -> None:
    """A signal after the first: quit at once. Committed rows are safe (WAL; a call's row is
    committed before its slot serves another call, `core.run.group_commit`); the calls in flight
    and rows not yet committed get no row, and the resume redoes those calls."""
    if printer.run_id is not None:
        from core.run.history import mark_interrupted_quickly

        mark_interrupted_quickly(ws.db_path, printer.run_id)
        printer.line(f"interrupted; resume with: {safe(resume_hint(ws, printer.run_id, printer.stream_flag))}")
    sys.stdout.flush()
    os._exit(130)


def _install_signals(loop: Any, token: Any, ws: Workspace, printer: ProgressPrinter) -> None:
    def on_signal() -> None:
        if not token.cancelled:
            printer.line("stopping: letting calls in flight finish (press Ctrl+C again to quit now)")
            token.cancel()
            return
        _quit_now(ws, printer)

    for sig in _STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal)


def _keep_quitting(ws: Workspace, printer: ProgressPrinter) -> None:
    """Once a stop was asked, a further signal quits at once until the process exits, not only
    while the event loop runs: a run can end fast after the first Ctrl+C (nothing in flight, e.g.
    while its worker processes still start) and be printing or exiting when the second lands.
    Plain handlers, installed as the loop's are removed (the loop's closing would reset its own)."""
    for sig in _STOP_SIGNALS:
        signal.signal(sig, lambda _sig, _frame: _quit_now(ws, printer))


def _exit_interrupted() -> None:
    """Exit 130. The interpreter's teardown resets signal handlers to the default action, so a
    Ctrl+C landing then would kill the process instead (-2): ignore them, it is quitting already."""
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    sys.exit(130)


def _run(ws: Workspace, request: RunRequest, printer: ProgressPrinter, stream: bool | None,
         started: StartedWorkers) -> ev.RunFinished:
    import asyncio

    from core.config.schema import load_config
    from core.run.engine import CancelToken, run
    from core.run.workers import WorkerPool

    cfg = load_config(ws.config_path)
    if stream is not None:  # --stream/--no-stream stands in for [run] stream
        cfg = cfg.model_copy(update={"run": cfg.run.model_copy(update={"stream": stream})})
    db = ws.db()
    token = CancelToken()

    async def main() -> ev.RunFinished:
        loop = asyncio.get_running_loop()
        # Installed once the run exists: a Ctrl+C while planning (litellm takes seconds to
        # import) simply aborts with exit 130 and nothing to resume.
        printer.on_started = lambda _event: _install_signals(loop, token, ws, printer)
        try:
            return await run(db, cfg, request, sink=printer, cancel=token, config_file=str(ws.config_path),
                             pool=WorkerPool(started=started))
        finally:
            for sig in _STOP_SIGNALS:
                loop.remove_signal_handler(sig)
            if token.cancelled:
                _keep_quitting(ws, printer)

    return asyncio.run(main())


def register(cli: click.Group) -> None:
    @cli.command("run")
    @click.option("--dataset", "-d", help="Dataset name.")
    @click.option("--version", "version", type=click.IntRange(min=1),
                  help="Run on this dataset version (default: a snapshot of the current content).")
    @click.option("--models", "-m", help="Comma-separated model names from [models.*].")
    @click.option("--prompt", "-p", help="Prompt name from [prompts.*] (default: [run] prompt).")
    @click.option("--concurrency", "-c", type=click.IntRange(min=1), help="Calls in flight at once, all models.")
    @click.option("--workers", type=click.IntRange(min=1),
                  help="Processes sending the requests (default: [run] workers, auto; a resume: the run's "
                       "own); limits hold across them.")
    @click.option("--repeat", "-r", type=click.IntRange(min=1), help="Calls per (case, model).")
    @click.option("--no-cache", is_flag=True, help="Ignore cached responses (fresh calls; still cached afterwards).")
    @click.option("--stream/--no-stream", default=None,
                  help="Stream responses, measuring time to first token (default: [run] stream). "
                       "A run condition: a resume must stream as the run did.")
    @click.option("--max-error-rate", type=click.FloatRange(0, 1),
                  help="Exit 3 when infrastructure errors exceed this share of calls (default: [run]).")
    @click.option("--resume", "resume", metavar="RUN_ID", help="Finish an interrupted run (same id, same conditions).")
    @click.option("--retry-errors", is_flag=True,
                  help="With --resume: send again the calls that ended in an error or were skipped by a breaker "
                       "(each call keeps one row: the one it ends with).")
    @click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
    @click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE",
                  help="Label the run (repeatable), e.g. --tag git=$(git rev-parse --short HEAD); shown in runs and trends.")
    @click.option("--baseline", metavar="[RUN_ID]", is_flag=False, flag_value="", default=None,
                  help="When the run finishes, compare it with RUN_ID (default: the pinned baseline).")
    @click.option("--alert", is_flag=True, help="With the comparison: store alerts, send them, exit 1 on one.")
    @pass_ws
    def run_cmd(ws: Workspace, dataset: str | None, version: int | None, models: str | None, prompt: str | None,
                concurrency: int | None, workers: int | None, repeat: int | None, no_cache: bool, stream: bool | None,
                max_error_rate: float | None, resume: str | None, retry_errors: bool, as_json: bool,
                tags: tuple[str, ...], baseline: str | None, alert: bool) -> None:
        """Run models on a dataset under identical conditions, or resume a run.

        \b
        assay run --dataset support --models gpt,claude
        assay run --dataset support --models gpt,claude --stream   # time to first token too
        assay run --resume r-20261128-193512-a1b2
        assay run --resume r-20261128-193512-a1b2 --retry-errors   # after an outage
        assay run --dataset support --models gpt --baseline --alert   # vs the pinned baseline
        Exit codes: 0 ok, 1 a regression alert (--alert), 2 config/input error, 3 infrastructure errors above
        --max-error-rate, 130 interrupted (the resume command is printed).
        """
        from core.errors import UsageError
        from core.run.worker_start import StartedWorkers

        if resume and (dataset or version or models or prompt or repeat):
            raise UsageError("--resume takes the dataset, version, models, prompt and repeat from the run; drop them")
        if retry_errors and not resume:
            raise UsageError("--retry-errors sends a finished run's failed calls again: give the run with --resume RUN_ID")
        if resume and tags:
            raise UsageError("--tag labels a new run; a resumed run keeps the tags it started with")
        # Before this process's own imports: the workers' litellm import (seconds) starts now.
        # They send the requests even for a one-worker run, so this process never imports litellm.
        started = StartedWorkers(max(workers or 1, os.cpu_count() or 1))
        try:
            from core.run.plan import RunRequest
            from core.run.tags import parse_tags

            if alert and baseline is None:
                baseline = ""  # --alert alone: against the pinned baseline
            if baseline is not None:
                from core.trends.baselines import check_baseline_available

                check_baseline_available(ws.db(), baseline or None, dataset)
            names = [m.strip() for m in (models or "").split(",") if m.strip()]
            request = RunRequest(dataset=dataset, version=version, models=names, prompt=prompt,
                                 concurrency=concurrency, workers=workers, repeat=repeat,
                                 use_cache=False if no_cache else None, max_error_rate=max_error_rate,
                                 resume=resume, retry_errors=retry_errors, tags=parse_tags(tags))
            printer = ProgressPrinter()
            printer.stream_flag = stream
            finished = _run(ws, request, printer, stream, started)
        finally:
            started.stop()  # stopped by the run already, unless it never began
        from core.trends.aggregates import record_run

        record_run(ws.db(), finished.run_id)  # the trend history's figures for this run

        if as_json:
            out = _figures_json(finished)
            if finished.resume_command:
                out["resume_command"] = resume_hint(ws, finished.run_id, stream)
            print_json(out)
        else:
            click.echo(_summary_table(finished))
        _print_error_samples(ws, finished, stream)
        if finished.status == "interrupted":
            echo_err(f"interrupted; resume with: {safe(resume_hint(ws, finished.run_id, stream))}")
            _exit_interrupted()
        echo_err(f"run {finished.run_id} {finished.status}: {finished.done}/{finished.total} calls, "
                 f"{finished.errors} errors, {finished.skipped} skipped, {finished.retries} retries, "
                 f"spend {_spend(finished.spend_usd, finished.spend_unknown)}, {duration(finished.elapsed_s)} "
                 f"({(finished.done - printer.already_done) / max(finished.calls_s or finished.elapsed_s, 1e-9):.1f}"
                 " calls/s)")
        if finished.over_error_rate:
            echo_err(f"infrastructure errors {finished.infra_errors}/{finished.done} "
                     f"({finished.infra_error_rate:.1%}) exceed --max-error-rate {finished.max_error_rate:.1%}")
            sys.exit(3)
        if baseline is not None and check_finished_run(ws, finished.run_id, baseline, alert=alert):
            sys.exit(1)

    @cli.command("runs")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.option("--limit", "-n", type=click.IntRange(min=1), help="Only the newest N runs.")
    @pass_ws
    def runs_cmd(ws: Workspace, as_json: bool, limit: int | None) -> None:
        """List runs, newest first."""
        from core.run.history import list_runs
        from core.run.tags import format_tags, run_tags

        runs = list_runs(ws.db(), limit, outcomes=True)
        tags = run_tags(ws.db(), [r.id for r in runs])
        if as_json:
            print_json([{**{k: v for k, v in asdict(r).items() if k != "outcomes"}, "failed": r.failed,
                         "tags": tags.get(r.id, {})} for r in runs])
            return
        if not runs:
            echo_err("no runs yet (assay run --dataset NAME --models a,b)")
            return
        listed = [[r.id, safe(r.dataset), f"v{r.dataset_version}", safe(",".join(r.models), 40),
                  r.status, r.created_at[:19].replace("T", " "), str(r.n_results), str(r.failed),
                  safe(format_tags(tags.get(r.id, {})), 40)] for r in runs]
        click.echo(table(["run", "dataset", "version", "models", "status", "created (UTC)", "results", "failed", "tags"],
                         listed, "llllllrrl"))


def _print_error_samples(ws: Workspace, finished: ev.RunFinished, stream: bool | None) -> None:
    if not (finished.errors or finished.skipped):
        return
    from core.run.history import error_samples

    for model, samples in error_samples(ws.db(), finished.run_id).items():
        counts = next((m.errors_by_class for m in finished.models if m.model == model), {})
        summary = ", ".join(f"{cls} {n}" for cls, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        echo_err(f"{safe(model)}: {summary}")
        for sample in samples:
            echo_err(f"  e.g. {sample.error_class}: {safe(sample.message, 300)}")
    if finished.status != "interrupted":
        failed = finished.errors + finished.skipped
        echo_err(f"to send the {failed} failed call{'s' if failed > 1 else ''} again once the cause is fixed: "
                 f"{safe(resume_hint(ws, finished.run_id, stream))} --retry-errors")
