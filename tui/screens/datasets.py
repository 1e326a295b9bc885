"""Datasets: every dataset with its counts, one page of cases at a time, filters, a case detail pane,
an agreement panel, and the curation actions (import, sample, edit, tag, exclude, export, versions).

Cases are paged from SQLite by keyset (core.datasets.browse.page), 100 rows per page: moving past
the last row loads the next page, `]`/`[` jump a page. The DataTable never holds more than a page.
Workers read and write through core on their own connection; a failure reaches the app's one
error dialog (tui.workers.background).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from contextlib import closing
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult, SuspendNotSupported
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Select, Static

from core.labeling.agreement import AgreementReport
from core.errors import UsageError
from core.common.figures import num, pct
from core.labeling.overview import DatasetSummary, LabelOverview, label_overview, summaries_with_labels
from core.common.safe_text import safe_text
from core.datasets.browse import CaseFilter, CaseRow, count_cases, excluded_case_ids, page
from core.datasets.edits import edit_case, from_editor_json, to_editor_json
from tui import keymap
from tui.messages import ActionDone, AgreementLoaded, CasesPage, DatasetDetailLoaded, DatasetsLoaded
from tui.render import input_with_conversation, one_line, plain, pretty_value, section
from tui.screens.base import AssayScreen
from tui.screens.edit_case_dialog import EditCaseDialog
from tui.screens.export_dialog import ExportDialog, ExportRequest
from tui.screens.import_dialog import ImportDialog, ImportRequest
from tui.screens.message_dialog import MessageDialog
from tui.screens.sample_dialog import SampleDialog, SampleResult
from tui.screens.tag_dialog import TagDialog
from tui.screens.versions_dialog import VersionsDialog
from tui.widgets.case_table import CaseTable
from tui.workers import background

PAGE_SIZE = 100
STATES = [
    ("needs ground truth", "open"), ("has ground truth", "truth"), ("needs adjudication", "dispute"),
    ("excluded", "excluded"), ("not excluded", "included"),
]


class DatasetsScreen(AssayScreen):
    MODE = "datasets"
    CSS_PATH = "datasets.tcss"
    BINDINGS = keymap.DATASETS

    def __init__(self) -> None:
        super().__init__()
        self._summaries: list[DatasetSummary] = []
        self._ds: DatasetSummary | None = None
        self._derived: dict[str, Any] = {}
        self._disputed: frozenset[str] = frozenset()
        self._excluded: frozenset[str] = frozenset()
        self._detail_ready = False
        self._overview: LabelOverview | None = None
        self._rows: list[CaseRow] = []
        self._page = 0
        self._has_prev = self._has_next = False
        self._token = 0
        self._list_token = 0
        self._pending_select: int | None = None  # dataset an import/sample created, selected on reload
        self._input_width = 0

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        tabs, status, footer = self.chrome()
        yield tabs
        with Horizontal(id="ds-body"):
            with Vertical(id="ds-left"):
                yield Static("Datasets", classes="panel-title")
                yield DataTable(id="datasets", cursor_type="row")
                yield Static(id="ds-summary")
                yield Static("Agreement", classes="panel-title")
                yield Static(id="agreement", classes="muted")
            with Vertical(id="ds-right"):
                with Horizontal(id="filters"):
                    yield Input(placeholder="/ filter text", id="f-text", compact=True)
                    yield Select([], id="f-task", prompt="task type", compact=True)
                    yield Select([(d, d) for d in ("easy", "medium", "hard")], id="f-difficulty",
                                 prompt="difficulty", compact=True)
                    yield Select(STATES, id="f-state", prompt="label state", compact=True)
                yield CaseTable(id="cases", cursor_type="row", zebra_stripes=True)
                yield Static(id="pager", classes="muted")
                with VerticalScroll(id="detail-scroll"):
                    yield Static(id="detail")
        yield status
        yield footer

    def on_mount(self) -> None:
        self.query_one("#datasets", DataTable).add_columns("name", "cases", "truth", "open", "v")
        self._setup_case_columns()
        self.query_one("#datasets", DataTable).focus()
        self._load_datasets()

    def _setup_case_columns(self) -> None:
        """Fixed columns, and the input column takes what is left of the table's width."""
        table = self.query_one("#cases", CaseTable)
        fixed = (("id", 14), ("task", 10), ("diff", 6), ("truth", 8))
        spare = table.size.width - sum(w for _, w in fixed) - 2 * (len(fixed) + 1) - 2
        width = max(spare, 20)
        if self._input_width == width:
            return
        self._input_width = width
        table.clear(columns=True)
        for label, w in (*fixed, ("input", width)):
            table.add_column(label, width=w, key=label)
        cursor = table.cursor_row
        for row in self._rows:
            table.add_row(*self._cells(row), key=row.case_id)
        if self._rows:
            table.move_cursor(row=max(cursor, 0))

    def on_resize(self) -> None:
        self.call_after_refresh(self._setup_case_columns)

    def on_screen_resume(self) -> None:
        # Labels may have changed on the Label screen: refresh counts, truth column and agreement.
        if self._ds is not None:
            self._load_datasets()

    # -- loading (workers post, handlers mutate) ------------------------------------------

    def _load_datasets(self) -> None:
        self._list_token += 1
        self._load_summaries(self._list_token)

    @background(group="datasets", exclusive=True)
    def _load_summaries(self, token: int) -> None:
        required = self.assay.config.labeling.required_labels
        with closing(self.assay.open_db()) as db:
            self.post_message(DatasetsLoaded(summaries_with_labels(db, required), token))

    @background(group="detail", exclusive=True)
    def _load_detail(self, ds_id: int, token: int) -> None:
        required = self.assay.config.labeling.required_labels
        with closing(self.assay.open_db()) as db:
            overview = label_overview(db, ds_id, required)  # one read of the label log for all panels
            excluded = excluded_case_ids(db, ds_id)
        self.post_message(DatasetDetailLoaded(ds_id, overview, excluded, token))
        self.post_message(AgreementLoaded(ds_id, overview.agreement))

    @background(group="page", exclusive=True)
    def _load_page(self, ds_id: int, flt: CaseFilter, anchor: tuple[str, int], page_no: int, token: int,
                   focus_last: bool) -> None:
        """anchor: ("after", ord) pages forward, ("before", ord) pages backward."""
        direction, ord_ = anchor
        with closing(self.assay.open_db()) as db:
            if direction == "after":
                cases = page(db, ds_id, after=ord_, limit=PAGE_SIZE, flt=flt)
                has_prev, has_next = page_no > 0, cases.more
            else:
                cases = page(db, ds_id, before=ord_, limit=PAGE_SIZE, flt=flt)
                has_prev, has_next = cases.more, True
            total = count_cases(db, ds_id, flt)
        rows = cases.cases
        focus = len(rows) - 1 if focus_last else 0
        self.post_message(CasesPage(ds_id, rows, has_prev, has_next, page_no, total, token, max(focus, 0)))

    def on_datasets_loaded(self, message: DatasetsLoaded) -> None:
        if message.token != self._list_token:
            return  # a reload started after this one (e.g. right after an import) will answer
        self._summaries = message.summaries
        table = self.query_one("#datasets", DataTable)
        keep = self._pending_select or (self._ds.id if self._ds else self.assay.dataset_id)
        self._pending_select = None
        table.clear()
        for s in self._summaries:
            table.add_row(plain(s.name, single_line=True, max_len=12), Text(str(s.cases)),
                          Text(str(s.labeled)), Text(str(s.unlabeled)), Text(str(s.versions)),
                          key=str(s.id))
        if not self._summaries:
            self._ds = None
            self.assay.select_dataset(None, "")
            self._show_empty()
            return
        index = next((i for i, s in enumerate(self._summaries) if s.id == keep),
                     next((i for i, s in enumerate(self._summaries) if s.cases), 0))
        table.move_cursor(row=index)
        # Selecting the same dataset again still refreshes its detail (labels may have changed).
        self._select(self._summaries[index])

    def _show_empty(self) -> None:
        self.query_one("#ds-summary", Static).update(Text(
            "No datasets yet.\n\nPress i to import a file, s to sample production logs, "
            "or run `assay import FILE --name NAME` in a shell."))
        self.query_one("#cases", CaseTable).clear()
        self.query_one("#pager", Static).update("")
        self.query_one("#detail", Static).update("")
        self.query_one("#agreement", Static).update("")

    @on(DataTable.RowHighlighted, "#datasets")
    def _dataset_highlighted(self, event: DataTable.RowHighlighted) -> None:
        table = event.data_table
        if not (0 <= table.cursor_row < table.row_count) or table.ordered_rows[table.cursor_row].key != event.row_key:
            return  # posted before the table was rebuilt: the row it names is no longer under the cursor
        if self._pending_select is not None:
            return  # a reload is about to select the dataset an action just created
        ds = next((s for s in self._summaries if str(s.id) == event.row_key.value), None)
        if ds is not None and (self._ds is None or ds.id != self._ds.id):
            self._select(ds)

    def _select(self, ds: DatasetSummary) -> None:
        self._ds = ds
        self.assay.select_dataset(ds.id, ds.name)
        self._detail_ready = False
        self._token += 1
        tasks = sorted(ds.task_types)
        task_select = self.query_one("#f-task", Select)
        current = task_select.value
        with self.prevent(Select.Changed):
            task_select.set_options([(plain(t, single_line=True, max_len=30), t) for t in tasks])
            if current in tasks:
                task_select.value = current
        self._render_summary()
        self._load_detail(ds.id, self._token)

    def on_dataset_detail_loaded(self, message: DatasetDetailLoaded) -> None:
        if message.token != self._token:
            return
        self._overview = message.overview
        self._derived = message.overview.derived
        self._disputed = frozenset(message.overview.needs_adjudication)
        self._excluded = message.excluded
        self._detail_ready = True
        self._render_summary()
        self._reload_page(keep_position=True)

    def on_agreement_loaded(self, message: AgreementLoaded) -> None:
        if self._ds is not None and message.dataset_id == self._ds.id:
            self.query_one("#agreement", Static).update(render_agreement(message.report))

    # -- the case page --------------------------------------------------------------------

    def _filter(self) -> CaseFilter:
        text = self.query_one("#f-text", Input).value.strip() or None
        task = self.query_one("#f-task", Select).value
        diff = self.query_one("#f-difficulty", Select).value
        state = self.query_one("#f-state", Select).value
        kw: dict[str, Any] = {
            "text": text,
            "task_type": None if task is Select.NULL else str(task),
            "difficulty": None if diff is Select.NULL else str(diff),
        }
        decided = frozenset(self._derived)
        if state == "open":
            kw.update(labeled=False, labeled_ids=decided)
        elif state == "truth":
            kw.update(labeled=True, labeled_ids=decided)
        elif state == "dispute":
            kw.update(only_ids=self._disputed)
        elif state == "excluded":
            kw.update(only_ids=self._excluded)
        elif state == "included":
            kw.update(include_excluded=False)
        return CaseFilter(**kw)

    def _reload_page(self, keep_position: bool = False) -> None:
        if self._ds is None or not self._detail_ready:
            return
        self._token += 1
        if keep_position and self._rows:
            anchor, page_no = ("after", self._rows[0].ord - 1), self._page
        else:
            anchor, page_no = ("after", -1), 0
        self._load_page(self._ds.id, self._filter(), anchor, page_no, self._token, False)

    def action_page(self, delta: int) -> None:
        if self._ds is None or not self._rows:
            return
        if delta > 0 and self._has_next:
            anchor = ("after", self._rows[-1].ord)
        elif delta < 0 and self._has_prev:
            anchor = ("before", self._rows[0].ord)
        else:
            return
        self._token += 1
        self._load_page(self._ds.id, self._filter(), anchor, self._page + delta, self._token, delta < 0)

    def on_case_table_page_request(self, message: CaseTable.PageRequest) -> None:
        self.action_page(message.delta)

    @on(Input.Changed, "#f-text")
    @on(Select.Changed)
    def _filters_changed(self) -> None:
        self._reload_page()

    def on_cases_page(self, message: CasesPage) -> None:
        if message.token != self._token:
            return  # an answer to a request that a newer one replaced
        self._rows, self._page = message.rows, message.page
        self._has_prev, self._has_next = message.has_prev, message.has_next
        table = self.query_one("#cases", CaseTable)
        table.clear()
        for row in self._rows:
            table.add_row(*self._cells(row), key=row.case_id)
        if self._rows:
            table.move_cursor(row=min(message.focus_row, len(self._rows) - 1))
        first = self._page * PAGE_SIZE + 1
        pager = (f"cases {first}–{first + len(self._rows) - 1} of {message.total}" if self._rows
                 else "no case matches the filters")
        hints = [h for h, ok in (("[ prev page", self._has_prev), ("] next page", self._has_next)) if ok]
        self.query_one("#pager", Static).update(Text(" · ".join([pager, *hints])))
        self._render_detail(self._current_row())

    def _truth_cell(self, row: CaseRow) -> Text:
        if row.excluded:
            return Text("excluded", style="dim")
        if row.case_id in self._disputed:
            return Text("dispute", style="bold")
        if row.case_id in self._derived:
            return Text("labels")
        if row.expected is not None:
            return Text("imported")
        return Text("—", style="dim")

    def _cells(self, row: CaseRow) -> list[Text]:
        return [
            plain(row.case_id, single_line=True, max_len=14),
            plain(row.task_type, single_line=True, max_len=10), plain(row.difficulty or "", single_line=True),
            self._truth_cell(row), one_line(row.input_text, max_len=120),
        ]

    def _current_row(self) -> CaseRow | None:
        table = self.query_one("#cases", CaseTable)
        if not self._rows or table.cursor_row < 0 or table.cursor_row >= len(self._rows):
            return None
        return self._rows[table.cursor_row]

    @on(DataTable.RowHighlighted, "#cases")
    def _case_highlighted(self) -> None:
        self._render_detail(self._current_row())

    # -- panels ---------------------------------------------------------------------------

    def _render_summary(self) -> None:
        ds = self._ds
        if ds is None:
            return
        out = plain(ds.name, style="bold", single_line=True, max_len=36)
        out.append(f"\n{ds.cases} cases · {ds.versions} version{'' if ds.versions == 1 else 's'}\n")
        out.append(f"ground truth {ds.labeled} · without {ds.unlabeled}\n")
        for task, counts in ds.task_types.items():
            out.append("  ")
            out.append(plain(task, single_line=True, max_len=18))
            out.append(f"  {counts.cases} ({counts.labeled} labeled)\n")
        if self._detail_ready:
            ov = self._overview
            out.append(f"label log: {len(self._derived)} decided · {len(ov.needs_adjudication)} need adjudication\n")
            for name, n in list(ov.annotators.items())[:4]:
                out.append("  ")
                out.append(plain(name, single_line=True, max_len=18))
                out.append(f"  {n} label{'' if n == 1 else 's'}\n")
        self.query_one("#ds-summary", Static).update(out)

    def _render_detail(self, row: CaseRow | None) -> None:
        detail = self.query_one("#detail", Static)
        if row is None:
            detail.update("")
            return
        head = plain(row.case_id, style="bold", single_line=True)
        head.append(" · ")
        head.append(plain(row.task_type, single_line=True))
        if row.difficulty:
            head.append(" · ")
            head.append(plain(row.difficulty, single_line=True))
        if row.tags:
            head.append(" · tags ")
            head.append(plain(", ".join(row.tags), single_line=True))
        if row.excluded:
            head.append(" · EXCLUDED", style="bold")
        out = Text()
        out.append(head)
        out.append("\n\n")
        shown, metadata = input_with_conversation(plain(row.input_text), row.metadata or {}, titled=True)
        out.append(shown)
        if row.case_id in self._derived:
            out.append("\n\n")
            out.append(section("Ground truth (from labels)", plain(pretty_value(self._derived[row.case_id]))))
        if row.expected is not None:
            out.append("\n\n")
            out.append(section("Expected output (imported)", plain(pretty_value(row.expected))))
        elif row.case_id not in self._derived:
            out.append("\n\n")
            out.append(section("Expected output", Text("none yet: press l to label", style="dim")))
        if metadata:
            out.append("\n\n")
            out.append(section("Metadata", plain(pretty_value(metadata))))
        detail.update(out)

    # -- actions --------------------------------------------------------------------------

    def action_focus_filter(self) -> None:
        self.query_one("#f-text", Input).focus()

    def action_leave_filter(self) -> None:
        self.query_one("#cases", CaseTable).focus()

    def action_reload(self) -> None:
        self._load_datasets()

    def action_label_dataset(self) -> None:
        if self._ds is None:
            self.notify("No dataset selected.", severity="warning")
            return
        self.assay.open_screen("label")

    def _need_row(self) -> CaseRow | None:
        row = self._current_row()
        if row is None:
            self.notify("No case selected.", severity="warning")
        return row

    def action_import_file(self) -> None:
        self.app.push_screen(ImportDialog(), self._import)

    def _import(self, request: ImportRequest | None) -> None:
        if request is not None:
            self._run_import(request)

    @background(group="write")
    def _run_import(self, request: ImportRequest) -> None:
        from core.datasets.formats import FIELDS
        from core.datasets.importing import import_file, parse_pairs

        mapping = parse_pairs(request.mapping or None, FIELDS, "mapping")
        with closing(self.assay.open_db()) as db:
            result = import_file(db, request.path, request.name, fmt=request.fmt, mapping=mapping,
                                 task_type=request.task_type)
        self.post_message(ActionDone(
            f"Imported {result.imported} cases into {result.dataset} ({result.labeled} with expected output, "
            f"version {result.version}).", reload_datasets=True, select_dataset=result.dataset_id))

    def action_sample_logs(self) -> None:
        self.app.push_screen(SampleDialog(), self._sampled)

    def _sampled(self, result: SampleResult | None) -> None:
        if result is not None:
            self.post_message(ActionDone(f"Sampled {result.cases} cases into {result.name} (version {result.version}).",
                                         reload_datasets=True, select_dataset=result.dataset_id))

    def action_export(self) -> None:
        if self._ds is not None:
            self.app.push_screen(ExportDialog(self._ds.name), self._export)

    def _export(self, request: ExportRequest | None) -> None:
        if request is not None and self._ds is not None:
            self._run_export(self._ds.name, request)

    @background(group="write")
    def _run_export(self, name: str, request: ExportRequest) -> None:
        from core.datasets.export import export_to_file

        with closing(self.assay.open_db()) as db:
            n = export_to_file(db, name, request.fmt, request.path, request.version,
                               required=self.assay.config.labeling.required_labels, overwrite=request.overwrite)
        self.post_message(ActionDone(f"Exported {n} cases to {request.path}.", reload_cases=False))

    def action_versions(self) -> None:
        if self._ds is not None:
            self.app.push_screen(VersionsDialog(self._ds.id, self._ds.name), lambda _: self._load_datasets())

    def action_edit_case(self) -> None:
        row = self._need_row()
        if row is not None:
            self.app.push_screen(EditCaseDialog(row), lambda changes: self._save(row, changes))

    def action_tag_case(self) -> None:
        row = self._need_row()
        if row is not None:
            self.app.push_screen(TagDialog(row), lambda tags: self._save(row, None if tags is None else {"tags": tags}))

    def action_toggle_exclude(self) -> None:
        row = self._need_row()
        if row is not None:
            self._save(row, {"excluded": not row.excluded})

    def action_edit_external(self) -> None:
        row = self._need_row()
        if row is None:
            return
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        fd, tmp = tempfile.mkstemp(prefix="assay-case-", suffix=".json")  # 0600
        path = Path(tmp)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(to_editor_json(row))
            try:
                with self.app.suspend():
                    subprocess.run([*shlex.split(editor), str(path)], check=False)
            except SuspendNotSupported:
                self.app.push_screen(MessageDialog("Cannot open $EDITOR", "This terminal cannot hand over to an "
                                                   "editor; use e to edit in place."))
                return
            except OSError as exc:
                self.app.push_screen(MessageDialog("Cannot open $EDITOR", f"{editor}: {exc.strerror}"))
                return
            try:
                changes = from_editor_json(row, path.read_text(encoding="utf-8"), "edited case")
            except (UsageError, UnicodeDecodeError) as exc:
                self.app.push_screen(MessageDialog("Edit not saved", getattr(exc, "message", str(exc))))
                return
            self._save(row, changes)
        finally:
            path.unlink(missing_ok=True)

    def _save(self, row: CaseRow, fields: dict[str, Any] | None) -> None:
        if fields:
            self._run_edit(row, fields)

    @background(group="write")
    def _run_edit(self, row: CaseRow, fields: dict[str, Any]) -> None:
        with closing(self.assay.open_db()) as db:
            changes = edit_case(db, row, fields)  # validated; only what changed is written
        if changes:
            what = ", ".join(sorted(changes))
            self.post_message(ActionDone(f"Saved {what} of {row.case_id}.", reload_datasets=True,
                                         edited_dataset=row.dataset_id))

    def on_action_done(self, message: ActionDone) -> None:
        # The message names cases, datasets and paths: untrusted, so through the gate.
        self.notify(safe_text(message.message), markup=False)
        if message.select_dataset is not None:
            self._pending_select = message.select_dataset
        if message.edited_dataset is not None:
            self.assay.note_cases_edited(message.edited_dataset)
        if message.reload_datasets:
            self._load_datasets()
        elif message.reload_cases:
            self._reload_page(keep_position=True)


def render_agreement(report: AgreementReport) -> Text:
    """The agreement panel: alpha over everyone, then percent agreement and kappa per pair."""
    if len(report.annotators) < 2 or report.n_pairable == 0:
        return Text("Needs two annotators labeling the same cases "
                    f"({len(report.annotators)} annotator(s), {report.n_cases} cases labeled).")
    out = Text(f"Krippendorff α {num(report.alpha, 2, 'n/a')} over {report.n_pairable} cases with 2+ labels\n")
    for p in report.pairs[:6]:
        if p.n == 0:
            continue
        out.append(plain(p.a, single_line=True, max_len=10))
        out.append("–")
        out.append(plain(p.b, single_line=True, max_len=10))
        out.append(f"  n={p.n} agree {pct(p.percent, 0, 'n/a')} κ {num(p.kappa, 2, 'n/a')}\n")
    top = max(report.pairs, key=lambda p: p.n)
    if top.n and len(top.categories) <= 5:
        # The busiest pair's confusion matrix: rows are the first annotator, columns the second.
        out.append("\n")
        out.append(plain(f"{top.a} (rows) × {top.b}", single_line=True, max_len=36, style="bold"))
        cats = [safe_text(c, single_line=True, max_len=6) for c in top.categories]
        out.append("\n" + " " * 8 + "".join(f"{c:>7}" for c in cats) + "\n")
        for c, row in zip(cats, top.matrix):
            out.append(f"{c:<8}" + "".join(f"{v:>7}" for v in row) + "\n")
    return out
