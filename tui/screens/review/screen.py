"""Review: a run (the latest unless one is chosen, `r`), optionally against a baseline run on the same
dataset (`b`; by default the dataset's pinned baseline, `assay baseline set`), judged case by case.

Top: the comparison table (the report's figures per model x task type; † marks a model the
dataset's latest contamination probe suspects), under it the trust lines (the suspected models'
probe figures, and when the run has judge verdicts each judge's calibration against the experts,
core.labeling.calibration), and the paired verdict (vs the baseline, or model A vs B). Middle:
class counts, one key per class filter, task type (`t`), difficulty (`v`), search (`/`), jump to
a case (`j`). Bottom: the case list (one keyset
page at a time, `[`/`]`) and the selected case side by side: input and ground truth, 2-4 answers
with verdicts and scorer details; `d` cycles a word diff (A vs B, then the selected answer vs the
ground truth); `,`/`.` select an answer, `o` overrides its verdict (a reason is required), `L`
flags the case for the labeling queue. `$` opens the run's cost projection (cost vs accuracy).

Loading order, so a run of 10,000 cases x 4 models paints its list in well under a second: the
case classes and the first page (core.review.cases, one SQL aggregation), then the comparison
table, then the paired statistics (their bootstrap is the slow part). Each step is a
`tui.workers.background` worker that posts its result; handlers alone touch widgets.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import replace
from typing import Literal

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Static

from core.errors import NotFoundError
from core.labeling.calibration import CalibrationReport, calibrate
from core.labeling.flags import flag_case
from core.report.flags import contamination_flags
from core.report.types import ContaminationFlag
from core.report.build import latest_run_id
from core.review.cases import CaseClass, CaseQuery, ReviewIndex, ReviewPage, build_index, class_counts, page, search_ids
from core.review.compare import comparison_table, paired_verdicts
from core.review.detail import CaseDetail, columns, case_detail, word_diff
from core.review.overrides import override_verdict
from core.run.history import list_runs
from core.trends.baselines import pinned_baseline_of_run
from tui import keymap
from tui.render import plain
from tui.screens.base import AssayScreen
from tui.screens.review import view
from tui.screens.review.cost_dialog import CostDialog
from tui.screens.review.dialogs import OverrideDialog, OverrideRequest, PickDialog, run_label
from tui.screens.review.messages import (DetailReady, IndexReady, JudgesReady, NoRuns, PageReady, PairedReady,
                                         RunsListed, TableReady, Written)
from tui.screens.text_prompt_dialog import TextPromptDialog
from tui.workers import background

PAGE_SIZE = 50
NO_BASELINE = "\x00none"  # the PickDialog id of "no baseline" (run ids never hold a NUL)
DiffMode = Literal["off", "answers", "expected"]
DIFF_MODES: tuple[DiffMode, ...] = ("off", "answers", "expected")
FIGURE_COLUMNS = (("model", 16), ("task", 10), ("pass rate (95% CI)", 21), ("w/ errors", 9), ("score", 5),
                  ("p50 ms", 6), ("p95 ms", 6), ("cost", 9), ("$/correct", 10), ("n", 5))


class ReviewScreen(AssayScreen):
    MODE = "review"
    CSS_PATH = "review.tcss"
    BINDINGS = keymap.REVIEW

    def __init__(self) -> None:
        super().__init__()
        self._run_id: str | None = None  # None: the latest run
        self._baseline: str | None = None
        self._baseline_chosen = False  # False: default to the pinned baseline of the run's dataset
        self._models: tuple[str | None, str | None] = (None, None)
        self._cls: CaseClass | None = None
        self._task_type: str | None = None
        self._difficulty: str | None = None
        self._text = ""
        self._text_ids: frozenset[str] | None = None
        self._index: ReviewIndex | None = None
        self._page: ReviewPage | None = None
        self._detail: CaseDetail | None = None
        self._selected = 0  # the answer column `o` and the diff act on
        self._diff: DiffMode = "off"
        self._contamination: dict[str, ContaminationFlag] = {}
        self._calibration: CalibrationReport | None = None
        self._saturation: str | None = None  # the run's CLIENT SATURATED note, if any
        self._token = self._page_token = self._detail_token = 0
        self.shown_run: str | None = None  # the run on screen (tests and bench wait on it)

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        tabs, status, footer = self.chrome()
        yield tabs
        yield Static(id="rv-head")
        yield DataTable(id="figures", cursor_type="none", zebra_stripes=True)
        yield Static(id="trust")
        yield Static(id="paired")
        yield Static(id="counts")
        with Horizontal(id="rv-filters"):
            yield Static(id="filter-line")
            yield Input(placeholder="/ search id, input, truth, answers", id="search", compact=True)
        with Horizontal(id="rv-body"):
            with Vertical(id="rv-left"):
                yield DataTable(id="cases", cursor_type="row", zebra_stripes=True)
                yield Static(id="pager", classes="muted")
                yield Static(view.LEGEND, id="legend", classes="muted", markup=False)
            with VerticalScroll(id="side"):
                yield Static(id="case-head")
                with Horizontal(id="answers"):
                    for i in range(4):
                        yield Static(id=f"ans-{i}", classes="answer")
        yield status
        yield footer

    def on_mount(self) -> None:
        figures = self.query_one("#figures", DataTable)
        for label, width in FIGURE_COLUMNS:
            figures.add_column(label, width=width)
        cases = self.query_one("#cases", DataTable)
        cases.add_column("case", width=12, key="case")
        cases.add_column("verdicts", width=13, key="marks")
        cases.add_column("input", width=17, key="input")
        cases.focus()
        self.query_one("#rv-head", Static).update(Text("Loading the latest run…", style="dim"))
        if not self._take_handoff():
            self._reload()

    def on_screen_resume(self) -> None:
        self._take_handoff()

    def _take_handoff(self) -> bool:
        """Open the run another screen asked for (`app.review_run_id`: Run's and Trends' `v`/`o`)."""
        wanted, self.assay.review_run_id = self.assay.review_run_id, None
        if wanted is None or wanted == self._run_id:
            return False
        self.show_run(wanted)
        return True

    def show_run(self, run_id: str, baseline: str | None = None) -> None:
        """Review this run (for the Run screen's history: open a run in Review)."""
        self._run_id, self._baseline, self._models = run_id, baseline, (None, None)
        self._baseline_chosen = baseline is not None
        self._cls = self._task_type = self._difficulty = None
        self._reload()

    # -- what is asked for ------------------------------------------------------------------

    def _query(self) -> CaseQuery:
        return CaseQuery(cls=self._cls, task_type=self._task_type, difficulty=self._difficulty, text_ids=self._text_ids)

    def _current_row(self) -> tuple[str, int] | None:
        table = self.query_one("#cases", DataTable)
        if self._page is None or not (0 <= table.cursor_row < len(self._page.rows)):
            return None
        entry = self._page.rows[table.cursor_row].entry
        return entry.case_id, entry.repeat

    def _reload(self, *, keep_row: bool = False) -> None:
        """Class the run again (a new run, baseline, models A/B, or a verdict changed)."""
        self._token += 1
        self._load_index(self._run_id, self._baseline, *self._models, self._query(), self._text,
                         self._current_row() if keep_row else None, self._token, not self._baseline_chosen)

    # -- workers (post only) ----------------------------------------------------------------

    @background(group="review-index", exclusive=True)
    def _load_index(self, run_id: str | None, baseline: str | None, a: str | None, b: str | None,
                    query: CaseQuery, text: str, at_case: tuple[str, int] | None, token: int,
                    pinned_default: bool = False) -> None:
        with closing(self.assay.open_db()) as db:
            if run_id is None:
                try:
                    run_id = latest_run_id(db)
                except NotFoundError:
                    self.post_message(NoRuns())
                    return
            if baseline is None and pinned_default:
                baseline = pinned_baseline_of_run(db, run_id)
            index = build_index(db, run_id, baseline=baseline, a=a, b=b)
            text_ids = search_ids(db, index, text)
            query = replace(query, text_ids=text_ids)
            pos = index.position(*at_case) if at_case else None
            at = index.entries[pos].key if pos is not None and query.keeps(index.entries[pos]) else None
            first = page(db, index, query, at=at, limit=PAGE_SIZE)
            counts = class_counts(index, query)
        self.post_message(IndexReady(index, first, counts, text_ids, token))

    @background(group="review-page", exclusive=True)
    def _load_page(self, index: ReviewIndex, query: CaseQuery, text: str | None, anchor: tuple[str, object] | None,
                   token: int) -> None:
        """`text` not None: search again first. anchor: ("after" | "before" | "at", row key)."""
        with closing(self.assay.open_db()) as db:
            if text is not None:
                query = replace(query, text_ids=search_ids(db, index, text))
            where = {anchor[0]: anchor[1]} if anchor else {}
            found = page(db, index, query, limit=PAGE_SIZE, **where)  # type: ignore[arg-type]
        self.post_message(PageReady(found, class_counts(index, query), query.text_ids, token))

    @background(group="review-table", exclusive=True)
    def _load_table(self, run_id: str, dataset: str, token: int) -> None:
        with closing(self.assay.open_db()) as db:
            table = comparison_table(db, run_id, self.assay.config)
            suspected = contamination_flags(db, dataset)
        self.post_message(TableReady(table, suspected, token))

    @background(group="review-judges", exclusive=True)
    def _load_judges(self, run_id: str, token: int) -> None:
        """The judge calibration panel: posted only when the run has judge verdicts."""
        with closing(self.assay.open_db()) as db:
            calibration = calibrate(db, self.assay.config, run_id)
        if calibration.judges:
            self.post_message(JudgesReady(calibration, token))

    @background(group="review-paired", exclusive=True)
    def _load_paired(self, index: ReviewIndex, token: int) -> None:
        with closing(self.assay.open_db()) as db:
            verdicts = paired_verdicts(db, index)
        self.post_message(PairedReady(verdicts, token))

    @background(group="review-detail", exclusive=True)
    def _load_detail(self, index: ReviewIndex, case_id: str, repeat: int, token: int) -> None:
        with closing(self.assay.open_db()) as db:
            detail = case_detail(db, index, case_id, repeat)
        self.post_message(DetailReady(detail, token))

    @background(group="review-runs", exclusive=True)
    def _list_runs(self, purpose: str) -> None:
        with closing(self.assay.open_db()) as db:
            runs = list_runs(db, 200)
        self.post_message(RunsListed(runs, purpose))

    @background(group="review-write")
    def _write_override(self, result_id: int, request: OverrideRequest) -> None:
        with closing(self.assay.open_db()) as db:
            done = override_verdict(db, result_id, passed=request.passed, reason=request.reason,
                                    annotator=self.assay.annotator)
        self.post_message(Written(f"Verdict of {done.model} on {done.case_id} is now {done.verdict} (human).",
                                  reload=True))

    @background(group="review-write")
    def _write_flag(self, dataset_id: int, case_id: str, note: str) -> None:
        with closing(self.assay.open_db()) as db:
            flag_case(db, dataset_id, case_id, self.assay.annotator, note)
        self.post_message(Written(f"Flagged {case_id} for the labeling queue (adjudication).", reload=False))

    # -- handlers (mutate) --------------------------------------------------------------------

    def on_no_runs(self, _: NoRuns) -> None:
        self.query_one("#rv-head", Static).update(Text(
            "No runs yet. Start one on the Run screen (4) or with `assay run` in a shell; it shows here."))

    def on_index_ready(self, message: IndexReady) -> None:
        if message.token != self._token:
            return
        index = self._index = message.index
        self._detail = None  # the same case in another run (or with other models) has other answers
        self._run_id, self._baseline, self._models = index.run_id, index.baseline_id, (index.a, index.b)
        self._text_ids = message.text_ids
        self._render_head()
        self._show_page(message.page, message.counts)
        self.shown_run = index.run_id
        self.query_one("#figures", DataTable).clear()
        self.query_one("#paired", Static).update(view.paired(None))
        self._contamination, self._calibration, self._saturation = {}, None, None
        self._render_trust()
        self._load_table(index.run_id, index.dataset, message.token)
        self._load_judges(index.run_id, message.token)

    def on_table_ready(self, message: TableReady) -> None:
        if message.token != self._token or self._index is None:
            return
        table = self.query_one("#figures", DataTable)
        table.clear()
        self._contamination = message.contamination
        self._saturation = message.table.saturation
        for row in message.table.rows:
            table.add_row(*view.figure_cells(row, row.model in message.contamination))
        self._render_trust()
        self._load_paired(self._index, message.token)

    def on_judges_ready(self, message: JudgesReady) -> None:
        if message.token == self._token:
            self._calibration = message.calibration
            self._render_trust()

    def _render_trust(self) -> None:
        """The contamination, judge calibration and client saturation lines under the figures,
        hidden when empty."""
        box = self.query_one("#trust", Static)
        text = view.trust(self._contamination, self._calibration, self._saturation)
        box.update(text)
        box.display = bool(text.plain)

    def on_paired_ready(self, message: PairedReady) -> None:
        if message.token == self._token:
            self.query_one("#paired", Static).update(view.paired(message.verdicts))

    def on_page_ready(self, message: PageReady) -> None:
        if message.token == self._page_token:
            self._text_ids = message.text_ids
            self._show_page(message.page, message.counts)

    def _render_head(self) -> None:
        index = self._index
        assert index is not None
        head = Text("Run ", style="bold")
        head.append(index.run_id, style="bold")
        head.append("  ·  ")
        head.append(plain(index.dataset, single_line=True, max_len=30))
        head.append("  ·  A ")
        head.append(plain(index.a or "-", single_line=True, max_len=24, style="bold"))
        head.append("  B ")
        head.append(plain(index.b or "-", single_line=True, max_len=24, style="bold"))
        head.append("  ·  baseline ")
        head.append(index.baseline_id or "none (b to choose)", style="bold" if index.baseline_id else "dim")
        self.query_one("#rv-head", Static).update(head)

    def _show_page(self, found: ReviewPage, counts: dict[CaseClass, int]) -> None:
        index = self._index
        assert index is not None
        self._page = found
        self.query_one("#counts", Static).update(view.class_counts(
            counts, self._cls, baseline=index.baseline_id is not None, a=index.a, b=index.b))
        line = Text(f"task type: {self._task_type or 'all'} (t)  ·  difficulty: {self._difficulty or 'all'} (v)  ·  "
                    "j jump  ·  , . answer")
        self.query_one("#filter-line", Static).update(line)
        table = self.query_one("#cases", DataTable)
        table.clear()
        for r in found.rows:
            e = r.entry
            label = plain(e.case_id, single_line=True, max_len=12)
            if e.repeat:
                label.append(f" #{e.repeat}")
            table.add_row(label, view.entry_marks(e), plain(r.preview, single_line=True, max_len=40))
        shown = (f"rows {found.first + 1}-{found.first + len(found.rows)} of {found.total}" if found.rows
                 else "no case matches: a shows all")
        nav = " · ".join(x for x, on_ in (("[ prev", found.has_prev), ("] next", found.has_next)) if on_)
        self.query_one("#pager", Static).update(Text(shown + (f" · {nav}" if nav else "")))
        if found.rows:
            table.move_cursor(row=0)
            self._select_row(0)
        else:
            self._detail = None
            self._render_detail()

    @on(DataTable.RowHighlighted, "#cases")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._select_row(event.cursor_row)

    def _select_row(self, row: int) -> None:
        if self._index is None or self._page is None or not (0 <= row < len(self._page.rows)):
            return
        entry = self._page.rows[row].entry
        if self._detail is not None and (self._detail.case_id, self._detail.repeat) == (entry.case_id, entry.repeat):
            return
        self._detail_token += 1
        self._load_detail(self._index, entry.case_id, entry.repeat, self._detail_token)

    def on_detail_ready(self, message: DetailReady) -> None:
        if message.token == self._detail_token:
            self._detail = message.detail
            self._selected = min(self._selected, max(len(message.detail.answers) - 1, 0))
            self._render_detail()

    def _render_detail(self) -> None:
        d = self._detail
        self.query_one("#case-head", Static).update(view.case_head(d) if d else Text(""))
        answers = d.answers if d else []
        for i in range(4):
            box = self.query_one(f"#ans-{i}", Static)
            box.display = i < len(answers)
            box.set_class(i == self._selected, "selected")
            if i < len(answers):
                box.update(view.answer(answers[i], self._column_label(i), self._diff_body(i)))

    def _column_label(self, i: int) -> str:
        if self._index is None or self._detail is None:
            return ""
        model, _ = columns(self._index)[i]
        return "A" if model == self._index.a else "B" if model == self._index.b else "·"

    def _diff_body(self, i: int) -> Text | None:
        """The diff shown in column i: A vs B in the second column, or the selected answer vs the truth."""
        d = self._detail
        if d is None or self._diff == "off":
            return None
        if self._diff == "answers" and i == 1 and len(d.answers) > 1:
            return view.diff_text(word_diff(d.answers[0].output, d.answers[1].output))
        if self._diff == "expected" and i == self._selected and d.expected is not None:
            return view.diff_text(word_diff(d.expected, d.answers[i].output))
        return None

    def on_written(self, message: Written) -> None:
        self.notify(message.message, markup=False)
        if message.reload:
            self._detail = None
            self._reload(keep_row=True)

    # -- actions --------------------------------------------------------------------------------

    def _page_again(self, anchor: tuple[str, object] | None = None, *, search: bool = False) -> None:
        if self._index is None:
            return
        self._page_token += 1
        self._load_page(self._index, self._query(), self._text if search else None, anchor, self._page_token)

    def action_filter_class(self, cls: CaseClass | None) -> None:
        self._cls = None if cls == self._cls else cls
        self._page_again()

    def action_cycle_task(self) -> None:
        if self._index is not None:
            self._task_type = _next(self._task_type, self._index.task_types)
            self._page_again()

    def action_cycle_difficulty(self) -> None:
        if self._index is not None:
            self._difficulty = _next(self._difficulty, self._index.difficulties)
            self._page_again()

    def action_focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_leave_search(self) -> None:
        self.query_one("#cases", DataTable).focus()

    @on(Input.Submitted, "#search")
    def _search(self, event: Input.Submitted) -> None:
        self._text = event.value.strip()
        self.query_one("#cases", DataTable).focus()
        self._page_again(search=True)

    def action_page(self, delta: int) -> None:
        found = self._page
        if found is None or not found.rows:
            return
        if delta > 0 and found.has_next:
            self._page_again(("after", found.rows[-1].entry.key))
        elif delta < 0 and found.has_prev:
            self._page_again(("before", found.rows[0].entry.key))

    def action_jump(self) -> None:
        if self._index is not None:
            self.app.push_screen(TextPromptDialog("Jump to case", "case id"), self._jump_to)

    def _jump_to(self, case_id: str | None) -> None:
        index = self._index
        if not case_id or index is None:
            return
        pos = index.position(case_id)
        if pos is None:
            self.notify("No such case in this run.", severity="warning", markup=False)
            return
        entry = index.entries[pos]
        if not self._query().keeps(entry):  # show it: drop the filters that hide it
            self._cls = self._task_type = self._difficulty = None
            self._text, self._text_ids = "", None
            self.query_one("#search", Input).value = ""
        self._page_again(("at", entry.key))

    def action_toggle_diff(self) -> None:
        self._diff = DIFF_MODES[(DIFF_MODES.index(self._diff) + 1) % len(DIFF_MODES)]
        self.notify({"off": "Diff off.", "answers": "Diff: A's answer against B's (in B's column).",
                     "expected": "Diff: the selected answer against the ground truth."}[self._diff], markup=False)
        self._render_detail()

    def action_select_answer(self, delta: int) -> None:
        if self._detail is not None and self._detail.answers:
            self._selected = (self._selected + delta) % len(self._detail.answers)
            self._render_detail()

    def action_override(self) -> None:
        d = self._detail
        if d is None or not d.answers:
            return
        chosen = d.answers[self._selected]
        if chosen.result_id is None or chosen.status != "ok":
            self.notify("Only an answered call can be overridden (this one has no answer).", severity="warning",
                        markup=False)
            return
        what = plain(chosen.model, single_line=True, max_len=40)
        what.append(" (baseline)" if chosen.baseline else "")
        what.append(" · case ")
        what.append(plain(d.case_id, single_line=True, max_len=40))

        def done(request: OverrideRequest | None) -> None:
            if request is not None:
                self._write_override(chosen.result_id, request)

        self.app.push_screen(OverrideDialog(what, chosen.verdict), done)

    def action_flag(self) -> None:
        d, index = self._detail, self._index
        if d is None or index is None:
            return

        def done(note: str | None) -> None:
            if note is not None:
                self._write_flag(index.dataset_id, d.case_id, note)

        self.app.push_screen(TextPromptDialog(f"Flag case {d.case_id} for the labeling queue",
                                              "why (optional): e.g. the ground truth looks wrong", allow_empty=True),
                             done)

    def action_costs(self) -> None:
        """`$`: the cost-vs-accuracy projection of the run on screen (tui.screens.review.cost_dialog)."""
        index = self._index
        if index is not None:
            self.app.push_screen(CostDialog(index.run_id, plain(index.dataset, single_line=True, max_len=30)))

    def action_pick_run(self) -> None:
        self._list_runs("run")

    def action_pick_baseline(self) -> None:
        if self._index is not None:
            self._list_runs("baseline")

    def on_runs_listed(self, message: RunsListed) -> None:
        index = self._index
        if message.purpose == "run":
            options = [(r.id, run_label(r.id, r.dataset, r.dataset_version, r.models, r.status)) for r in message.runs]
            self.app.push_screen(PickDialog("Review which run?", options, current=self._run_id), self._chose_run)
            return
        if index is None:
            return
        same = [r for r in message.runs if r.dataset == index.dataset and r.id != index.run_id]
        options = [(NO_BASELINE, Text("(no baseline)"))] + [
            (r.id, run_label(r.id, r.dataset, r.dataset_version, r.models, r.status)) for r in same]
        self.app.push_screen(PickDialog("Baseline: a run on the same dataset", options, current=self._baseline),
                             self._chose_baseline)

    def _chose_run(self, run_id: str | None) -> None:
        if run_id and run_id != self._run_id:
            self.show_run(run_id)

    def _chose_baseline(self, choice: str | None) -> None:
        if choice is None:
            return
        baseline = None if choice == NO_BASELINE else choice
        self._baseline_chosen = True
        if baseline != self._baseline:
            self._baseline = baseline
            if self._cls in ("regressed", "improved"):
                self._cls = None
            self._reload()

    def action_pick_models(self) -> None:
        index = self._index
        if index is None or len(index.models) < 2:
            self.notify("Models A and B need a run of two models or more.", severity="warning", markup=False)
            return
        options = [(m, plain(m, single_line=True, max_len=60)) for m in index.models]

        def chose_b(b: str | None, a: str) -> None:
            if b is not None:
                self._models = (a, b)
                self._reload(keep_row=True)

        def chose_a(a: str | None) -> None:
            if a is not None:
                rest = [(k, label) for k, label in options if k != a]
                self.app.push_screen(PickDialog("Model B", rest, current=index.b), lambda b: chose_b(b, a))

        self.app.push_screen(PickDialog("Model A", options, current=index.a), chose_a)


def _next(current: str | None, values: tuple[str, ...]) -> str | None:
    """The next value of a filter cycle: all, then each value, then all again."""
    cycle: list[str | None] = [None, *values]
    return cycle[(cycle.index(current) + 1) % len(cycle)] if current in cycle else None
