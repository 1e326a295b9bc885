"""The Review screen's dialogs: pick one of a list (a run, a baseline, a model) and override a
verdict (pass or fail, with a required reason)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, OptionList, Select, Static
from textual.widgets.option_list import Option

from tui.render import plain
from tui.screens.dialog import Dialog, FormDialog


class PickDialog(Dialog[str]):
    """Choose one option (Enter), or Esc. Options are (id, label as safe Text)."""

    CSS_PATH = "dialogs.tcss"

    def __init__(self, title: str, options: list[tuple[str, Text]], *, current: str | None = None) -> None:
        super().__init__()
        self.title_text, self.options, self.current = title, options, current

    def compose(self) -> ComposeResult:
        with Vertical(id="pick-box", classes="review-dialog"):
            yield Static(self.title_text, classes="panel-title", markup=False)
            yield OptionList(*(Option(label, id=key) for key, label in self.options), id="pick")
            yield Static("Enter chooses · Esc cancels", classes="muted")

    def on_mount(self) -> None:
        pick = self.query_one(OptionList)
        pick.focus()
        index = next((i for i, (key, _) in enumerate(self.options) if key == self.current), 0)
        if self.options:
            pick.highlighted = index

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)


@dataclass(frozen=True)
class OverrideRequest:
    passed: bool
    reason: str


class OverrideDialog(FormDialog[OverrideRequest]):
    """A human verdict on one answer. The reason is required (it is stored with the verdict)."""

    CSS_PATH = "dialogs.tcss"

    def __init__(self, what: Text, current: str) -> None:
        super().__init__()
        self.what, self.current = what, current

    def compose(self) -> ComposeResult:
        with Vertical(id="override-box", classes="review-dialog"):
            title = Text("Override the verdict on ", style="bold")
            title.append(self.what)
            yield Static(title, classes="panel-title")
            yield Static(Text(f"Verdict now: {self.current} · the new one:"), classes="muted")
            yield Select([("pass", "pass"), ("fail", "fail")], id="verdict", allow_blank=False,
                         value="fail" if self.current == "pass" else "pass", compact=True)
            yield Input(id="reason", placeholder="why (required): e.g. the answer is a correct synonym")
            yield Static("Enter saves · Esc cancels · the override is stored with your name", classes="muted")
            yield Static(id="dialog-error")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    def submit(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        if not reason:
            self.show_error("A reason is required: it is kept with the verdict.")
            return
        self.dismiss(OverrideRequest(self.query_one("#verdict", Select).value == "pass", reason))


def run_label(run_id: str, dataset: str, version: int, models: tuple[str, ...], status: str) -> Text:
    out = Text(run_id, style="bold")
    out.append("  ")
    out.append(plain(f"{dataset} v{version}", single_line=True, max_len=30))
    out.append("  ")
    out.append(plain(", ".join(models), single_line=True, max_len=50))
    out.append(f"  {status}")
    return out
