"""Label: one case at a time, keyboard first.

One unmodified key per classification / pass-fail / rating decision: the key SAVES (a label event
appended under BEGIN IMMEDIATE and committed) and the next case renders only after that commit.
Extraction cases show a form (Tab between fields, Enter accepts), free-text cases an editor
(ctrl+s accepts). `s` skip, `f` flag, `u` undo, `[` `]` move, `g` guidelines, `n` note,
`a` adjudication queue. Digits never switch screens here: they are labels.

Threads: one worker thread owns a `core.labeling.session.LabelSession` and its own connection for the
life of the session. The screen sends it commands through a queue; it posts back a `CaseView`
after each one, and only the handler touches widgets. Commands that act on "this case" carry the
id of the case on screen; if the session has moved on (a key typed before the next case showed),
the command is refused instead of landing on a case the annotator has not seen.
"""

from __future__ import annotations

import json
import queue
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.keys import key_to_character
from textual.message import Message
from textual.widgets import Input, Markdown, Static, TextArea
from textual.worker import get_current_worker

from core.common.figures import duration
from core.common.conversation import PRODUCTION_OUTPUT
from core.labeling.overview import DatasetRef, first_dataset_to_label
from core.labeling.session import CaseView, LabelProgress, LabelSession
from core.common.safe_text import safe_text
from tui import keymap
from tui.messages import CaseRendered, LabelSessionFailed, LabelViewReady
from tui.render import input_with_conversation, plain, pretty_value
from tui.screens.base import AssayScreen
from tui.screens.text_prompt_dialog import TextPromptDialog
from tui.widgets.extraction_form import ExtractionForm
from tui.workers import background

CASE_BOUND = ("decide", "skip", "flag", "note")


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[Any, ...] = ()
    case_id: str | None = None  # for CASE_BOUND commands: the case on screen when the key was pressed


@dataclass
class DatasetToLabel(Message):
    """Where Label goes when no dataset is chosen: the first with something to label (None: none has)."""

    dataset: DatasetRef | None


class LabelScreen(AssayScreen):
    MODE = "label"
    CSS_PATH = "label.tcss"
    BINDINGS = keymap.LABEL
    HIDDEN_IN_HELP = ("app.screen.",)

    def __init__(self) -> None:
        super().__init__()
        self._view: CaseView | None = None
        self._commands: queue.Queue[Command | None] | None = None
        self._session = 0
        # (dataset id, its case-edit count) the running session loaded: an edit on Datasets reloads the queue.
        self._session_key: tuple[int | None, int] | None = None
        self._editing = False  # the user is in the extraction form / editor on purpose
        self._free_text_shown = ""
        self._free_text_original: Any = None
        self._guidelines_version: str | None = None
        self.render_count = 0

    def compose(self) -> ComposeResult:
        tabs, status, footer = self.chrome()
        yield tabs
        with Vertical(id="lb-top"):
            yield Static(id="lb-head")
            yield Static(id="lb-progress")
            yield Static(id="lb-message")
        with Horizontal(id="lb-body"):
            case_pane = VerticalScroll(id="lb-case")
            case_pane.can_focus = False  # keys belong to labeling; pgup/pgdn scroll it
            with case_pane:
                yield Static(id="lb-input")
            with VerticalScroll(id="lb-guidelines") as guidelines:
                guidelines.can_focus = False
                yield Markdown(id="lb-guidelines-text")
            with VerticalScroll(id="lb-side") as side:
                side.can_focus = False
                yield Static(id="lb-choices")
                yield ExtractionForm(id="lb-form")
                yield TextArea(id="lb-editor", soft_wrap=True, show_line_numbers=False)
                yield Static(id="lb-mine")
                yield Static(id="lb-others")
        yield status
        yield footer

    def on_mount(self) -> None:
        self.query_one("#lb-guidelines").display = False
        self.query_one("#lb-form").display = False
        self.query_one("#lb-editor").display = False
        self._start_if_needed()

    def on_screen_resume(self) -> None:
        self._start_if_needed()

    def on_unmount(self) -> None:
        self._stop_session()

    # -- the session thread ---------------------------------------------------------------

    def _reserved_keys(self) -> set[str]:
        """Keys of this screen's actions (after the user's keymap): label keys may not shadow them."""
        keys: set[str] = set()
        user = self.assay.user_keymap
        for binding in [*keymap.LABEL, *keymap.APP]:
            if binding.id and binding.id.startswith("app.screen."):
                continue  # digits do not switch screens on this screen
            for key in user.get(binding.id or "", binding.key).split(","):
                key = key.strip()
                keys.add(key)
                char = key_to_character(key)
                if char:
                    keys.add(char)
        return keys

    def _start_if_needed(self) -> None:
        ds_id = self.assay.dataset_id
        key = (ds_id, self.assay.case_edits.get(ds_id, 0) if ds_id is not None else 0)
        if key == self._session_key and self._commands is not None:
            return
        self._stop_session()
        self._session_key = key
        if ds_id is None:
            self._show_nothing("Looking for a dataset to label…")
            self._find_dataset()
            return
        self._session += 1
        self._commands = queue.Queue()
        self._show_nothing("Loading…")
        self._session_loop(ds_id, self._session, self._commands, frozenset(self._reserved_keys()))

    def _stop_session(self) -> None:
        if self._commands is not None:
            self._commands.put(None)
            self._commands = None

    @background(group="label-find", exclusive=True)
    def _find_dataset(self) -> None:
        with closing(self.assay.open_db()) as db:
            self.post_message(DatasetToLabel(first_dataset_to_label(db, self.assay.config, self.assay.annotator)))

    def on_dataset_to_label(self, message: DatasetToLabel) -> None:
        if self.assay.dataset_id is not None:
            return  # a dataset was chosen meanwhile (on Datasets)
        if message.dataset is None:
            self._show_nothing("Nothing to label in any dataset. Press d for Datasets to import or pick one "
                               "(or run `assay label DATASET`).")
            return
        self.assay.select_dataset(message.dataset.id, message.dataset.name)
        self._start_if_needed()

    @background(group="label-session")
    def _session_loop(self, ds_id: int, session_id: int, commands: queue.Queue[Command | None],
                      reserved: frozenset[str]) -> None:
        worker = get_current_worker()
        app = self.assay
        db = app.open_db()
        try:
            session = LabelSession(db, ds_id, app.annotator, app.config, app.ws.root, reserved_keys=reserved)
            self.post_message(LabelViewReady(session.open(), session_id))
            while not worker.is_cancelled:
                try:
                    command = commands.get(timeout=0.5)
                except queue.Empty:
                    continue
                if command is None:
                    return
                self.post_message(LabelViewReady(_apply(session, command), session_id))
        except Exception as exc:
            # The session is over: the screen stops sending it keys and says so (labels already
            # written stay written); the app's error dialog shows the error too.
            self.post_message(LabelSessionFailed(safe_text(f"{type(exc).__name__}: {exc}"), session_id))
            raise
        finally:
            db.close()

    def _send(self, name: str, *args: Any) -> None:
        if self._commands is None:
            return
        case_id = self._view.case.case_id if self._view and self._view.case else None
        self._commands.put(Command(name, args, case_id if name in CASE_BOUND else None))

    # -- keys -----------------------------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        """Label keys come from assay.toml, so they are matched here rather than as bindings."""
        view = self._view
        schema = view.schema if view and view.case else None
        if schema is not None and schema.single_key:
            choice = schema.choice_for(event.key, event.character)
            if choice is not None:
                event.stop()
                event.prevent_default()
                self._send("decide", choice.value)
                return
        if event.character is not None and event.character.isdigit():
            # Digits are labels on this screen, never screen switches.
            event.stop()
            event.prevent_default()
            if schema is not None:
                self.notify(f"No label on key {event.character} for this task.", severity="warning", timeout=2,
                            markup=False)

    def action_skip(self) -> None:
        self._send("skip")

    def action_undo(self) -> None:
        self._send("undo")

    def action_step(self, delta: int) -> None:
        self._send("step", delta)

    def action_datasets(self) -> None:
        self.assay.open_screen("datasets")

    def action_toggle_adjudication(self) -> None:
        mode = "label" if self._view is not None and self._view.mode == "adjudicate" else "adjudicate"
        self._send("mode", mode)

    def action_flag(self) -> None:
        self._ask_then_send("flag", "Flag for adjudication", "why? (optional) · Enter flags", allow_empty=True)

    def action_note(self) -> None:
        self._ask_then_send("note", "Note on this case", "what should others know?")

    def _ask_then_send(self, name: str, title: str, hint: str, *, allow_empty: bool = False) -> None:
        """Ask for a line of text, then send `name` for the case that was on screen when asked."""
        if self._view is None or self._view.case is None:
            return
        case_id = self._view.case.case_id

        def done(text: str | None) -> None:
            if text is not None and self._commands is not None:  # None = cancelled
                self._commands.put(Command(name, (text,), case_id))

        self.app.push_screen(TextPromptDialog(title, hint, allow_empty=allow_empty), done)

    def action_guidelines(self) -> None:
        panel = self.query_one("#lb-guidelines")
        panel.display = not panel.display

    def action_edit(self) -> None:
        kind = self._kind()
        if kind == "extraction" and self._form_has_fields():
            self._editing = True
            self.query_one(ExtractionForm).focus_first()
        elif kind in ("extraction", "free_text"):
            self._editing = True
            self.query_one("#lb-editor", TextArea).focus()
        elif kind is not None:
            self.notify("This task takes one key per decision; see the keys on the right.", timeout=3)

    def action_leave_field(self) -> None:
        self._editing = False
        self.set_focus(None)

    def action_accept(self) -> None:
        kind = self._kind()
        if kind == "extraction" and self._form_has_fields():
            self._send("decide", self.query_one(ExtractionForm).values())
        elif kind in ("extraction", "free_text"):
            self._accept_editor(kind)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_accept()

    def _kind(self) -> str | None:
        view = self._view
        return view.schema.kind if view and view.case and view.schema else None

    def _form_has_fields(self) -> bool:
        view = self._view
        return bool(view and view.schema and (view.schema.fields or isinstance(view.prefill, dict)))

    def _accept_editor(self, kind: str) -> None:
        text = self.query_one("#lb-editor", TextArea).text
        value: Any = self._free_text_original if text == self._free_text_shown else text
        if kind == "extraction":
            try:
                value = json.loads(text) if isinstance(value, str) else value
            except ValueError as exc:
                self.notify(safe_text(f"Not valid JSON: {exc}"), severity="error", markup=False)
                return
            if not isinstance(value, dict):
                self.notify("An extraction label is a JSON object.", severity="error")
                return
        elif not isinstance(value, str) or not value.strip():
            self.notify("Type the expected output first (or s to skip).", severity="warning")
            return
        self._send("decide", value)

    # -- rendering ------------------------------------------------------------------------

    def on_label_session_failed(self, message: LabelSessionFailed) -> None:
        if message.session == self._session:
            self._commands = None
            self._show_nothing(f"Labeling stopped: {message.message}")

    def _show_nothing(self, text: str) -> None:
        self._view = None
        self.query_one("#lb-head", Static).update(Text("Label", style="bold"))
        self.query_one("#lb-progress", Static).update("")
        self.query_one("#lb-message", Static).update(plain(text))
        for wid in ("#lb-input", "#lb-choices", "#lb-mine", "#lb-others"):
            self.query_one(wid, Static).update("")
        self.query_one("#lb-form").display = False
        self.query_one("#lb-editor").display = False

    def on_label_view_ready(self, message: LabelViewReady) -> None:
        if message.session != self._session:
            return
        view = message.view
        previous = self._view.case.case_id if self._view and self._view.case else None
        self._view = view
        self._render_head(view)
        self.query_one("#lb-message", Static).update(plain(view.message))
        if view.case is None:
            for wid in ("#lb-choices", "#lb-mine", "#lb-others"):
                self.query_one(wid, Static).update("")
            self.query_one("#lb-input", Static).update(_nothing_left(view))
            self.query_one("#lb-form").display = False
            self.query_one("#lb-editor").display = False
            self.set_focus(None)
        else:
            self._render_case(view, case_changed=previous != view.case.case_id)
        self.call_after_refresh(self._rendered, view.case.case_id if view.case else None)

    def _rendered(self, case_id: str | None) -> None:
        self.render_count += 1
        self.post_message(CaseRendered(case_id, self.render_count))

    def _render_head(self, view: CaseView) -> None:
        head = plain(view.dataset_name, style="bold", single_line=True, max_len=40)
        head.append("  ·  ")
        head.append("Adjudication" if view.mode == "adjudicate" else "Labeling", style="reverse")
        if view.case is not None:
            head.append(f"  ·  case {view.position} of {view.total}  ·  id ")
            head.append(plain(view.case.case_id, single_line=True, max_len=40))
        if view.blind and view.mode == "label":
            head.append("  ·  blind")
        self.query_one("#lb-head", Static).update(head)
        self.query_one("#lb-progress", Static).update(
            progress_line(view.progress, view.mode, stable=self.assay.stable_display))

    def _render_case(self, view: CaseView, case_changed: bool) -> None:
        case = view.case
        assert case is not None and view.schema is not None
        body = Text()
        meta = [plain(case.task_type, single_line=True, max_len=30)]
        if case.difficulty:
            meta.append(plain(case.difficulty, single_line=True, max_len=10))
        if case.tags:
            meta.append(plain("tags " + ", ".join(case.tags), single_line=True, max_len=60))
        line = Text(" · ").join(meta)
        line.stylize("dim")
        body.append(line)
        body.append("\n\n")
        shown, metadata = input_with_conversation(plain(case.input_text), case.metadata or {})
        body.append(shown)
        # Production's logged answer is a model output: shown with them, when blind mode allows.
        metadata = {k: v for k, v in metadata.items() if k != PRODUCTION_OUTPUT}
        if metadata:
            body.append("\n\nMetadata\n", style="bold")
            body.append(plain(pretty_value(metadata)))
        if view.notes:
            body.append("\n\nNotes\n", style="bold")
            for who, note in view.notes:
                body.append(plain(who, single_line=True, max_len=24, style="italic"))
                body.append(": ")
                body.append(plain(note))
                body.append("\n")
        self.query_one("#lb-input", Static).update(body)
        if case_changed:
            self.query_one("#lb-case", VerticalScroll).scroll_home(animate=False)
        self._render_decision(view, case_changed)
        self.query_one("#lb-mine", Static).update(mine_text(view))
        self.query_one("#lb-others", Static).update(others_text(view))
        guidelines = view.guidelines
        if guidelines is not None and guidelines.version != self._guidelines_version:
            self._guidelines_version = guidelines.version
            text = guidelines.text or "_No guidelines yet: set [labeling].guidelines or guidelines_file in assay.toml._"
            if guidelines.warnings:
                text += "\n\n" + "\n".join(f"- {w}" for w in guidelines.warnings)
            self.query_one("#lb-guidelines-text", Markdown).update(safe_text(text))

    def _render_decision(self, view: CaseView, case_changed: bool) -> None:
        schema = view.schema
        assert schema is not None
        form = self.query_one(ExtractionForm)
        editor = self.query_one("#lb-editor", TextArea)
        choices = self.query_one("#lb-choices", Static)
        if schema.single_key:
            form.display = editor.display = False
            choices.update(choices_text(view))
            self._editing = False
            self.set_focus(None)
            return
        use_form = schema.kind == "extraction" and (schema.fields or isinstance(view.prefill, dict))
        form.display, editor.display = bool(use_form), not use_form
        if schema.kind == "extraction":
            hint = "Extraction · e edit (Tab next field) · Enter accept · Esc leave field"
        else:
            hint = "Free text · e edit · ctrl+s accept · Esc leave editor"
        notes = [Text(hint, style="dim")] + [Text(w, style="bold") for w in schema.warnings]
        choices.update(Text("\n").join(notes))
        if not case_changed:
            return
        if use_form:
            fields = schema.fields or tuple(view.prefill)
            form.set_fields(fields, view.prefill if isinstance(view.prefill, dict) else None)
        else:
            original = view.prefill
            if schema.kind == "extraction" and original is None:
                original = "{}"
            shown = pretty_value(original) if schema.kind == "extraction" else (original or "")
            self._free_text_original, self._free_text_shown = original, safe_text(shown)
            editor.load_text(self._free_text_shown)
        if self._editing:
            # Still in the flow of typing answers: stay in the form for the next case.
            if use_form:
                form.focus_first()
            else:
                editor.focus()
        else:
            self.set_focus(None)

    def help_rows(self) -> list[tuple[str, str]]:
        view = self._view
        if view is None or view.schema is None or not view.schema.single_key:
            return []
        return [("/".join(c.keys) or "(none)", f"label {c.value}" + (f" — {c.hint}" if c.hint else ""))
                for c in view.schema.choices]

    def action_scroll_case(self, delta: int) -> None:
        pane = self.query_one("#lb-case", VerticalScroll)
        pane.scroll_relative(y=delta * max(pane.size.height - 2, 1), animate=False)


def _nothing_left(view: CaseView) -> Text:
    if view.mode == "adjudicate":
        what = (f"All {view.total} cases in the adjudication queue are decided." if view.total
                else "Nothing waits for adjudication: no flagged cases, no disagreements.")
    elif view.total:
        what = f"Done: all {view.total} cases in your queue are decided."
    else:
        what = "Nothing to label here: every case has ground truth, is excluded, or waits for adjudication."
    out = Text(what, style="bold")
    out.append("\n\n[ and ] go back over the queue · a switches labeling/adjudication · d returns to Datasets")
    return out


# Command name -> the LabelSession method it calls with the command's args.
_METHODS = {"decide": "decide", "skip": "skip", "flag": "flag", "note": "note", "undo": "undo", "step": "step",
            "mode": "set_mode"}


def _apply(session: LabelSession, command: Command) -> CaseView:
    """Run one command on the session (in the session's thread)."""
    if command.name in CASE_BOUND and command.case_id != session.current_case_id():
        return session.view("That key was for a case that is no longer on screen; nothing was saved.")
    return getattr(session, _METHODS[command.name])(*command.args)


def progress_line(p: LabelProgress, mode: str, *, stable: bool) -> Text:
    width = 24
    filled = round(width * p.done / p.total) if p.total else 0
    out = Text("█" * filled + "░" * (width - filled) + " ")
    if mode == "adjudicate":
        out.append(f"adjudicated {p.done}/{p.total}")
        return out
    out.append(f"done {p.done}/{p.total}", style="bold")
    if stable or p.rate_per_min is None:
        rate, eta = "—", "—"
    else:
        rate, eta = f"{p.rate_per_min:.1f}/min", duration(p.eta_s or 0)
    out.append(f"  ·  rate {rate}  ·  ETA {eta}  ·  skipped {p.skipped}  ·  flagged {p.flagged}")
    return out


def choices_text(view: CaseView) -> Group:
    """Keys and labels as a grid, so a long hint wraps under its label, not under the key."""
    assert view.schema is not None
    mine = view.mine[1] if view.mine and view.mine[0] == "label" else None
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for c in view.schema.choices:
        body = plain(c.value, single_line=True, max_len=40, style="bold")
        if mine is not None and c.value == mine:
            body.append("  ← yours", style="bold")
        if c.hint:
            body.append("\n")
            body.append(plain(c.hint, single_line=True, max_len=200, style="dim"))
        grid.add_row(Text(f" {'/'.join(c.keys) or '–'} ", style="reverse"), body)
    footer = Text()
    for warning in view.schema.warnings:
        footer.append(plain(warning, style="bold"))
        footer.append("\n")
    footer.append("s skip · f flag · u undo · [ ] move · g guidelines", style="dim")
    return Group(grid, Text(""), footer)


def mine_text(view: CaseView) -> Text:
    out = Text("You: ", style="bold")
    if view.mine is None:
        out.append("not decided yet", style="dim")
    elif view.mine[0] == "label":
        out.append(plain(pretty_value(view.mine[1]), max_len=400))
    elif view.mine[0] == "flag":
        out.append("flagged")
        if view.mine[1]:
            out.append(" — ")
            out.append(plain(view.mine[1], max_len=200))
    else:
        out.append("skipped")
    return out


def others_text(view: CaseView) -> Text:
    if view.others is None and view.model_outputs is None:
        return Text("Other annotators' labels and model outputs are hidden until you decide (blind mode).",
                    style="dim")
    if view.others is None:  # judging model outputs: the outputs show, other labels stay blind
        out = Text("Other annotators' labels are hidden until you decide (blind mode).\n", style="dim")
    else:
        out = Text("Labels\n", style="bold")
        if not view.others:
            out.append("none from others yet\n", style="dim")
    for other in view.others or ():
        out.append(plain(other.annotator, single_line=True, max_len=20, style="italic"))
        if other.kind == "flag":
            out.append(" ⚑ flagged")
            if other.note:
                out.append(": ")
                out.append(plain(other.note, max_len=200))
        else:
            out.append(" (adjudicated)" if other.kind == "adjudicate" else "")
            out.append(": ")
            out.append(plain(pretty_value(other.value), max_len=300))
        out.append("\n")
    if view.model_outputs:
        out.append("\nModel outputs\n", style="bold")
        for model, output in view.model_outputs:
            out.append(plain(model, single_line=True, max_len=40, style="italic"))
            out.append(": ")
            out.append(plain(output, max_len=400))
            out.append("\n")
    return out
