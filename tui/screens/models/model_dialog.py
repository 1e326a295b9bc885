"""Add or edit one [models.NAME]: a field per key, validated by the schema, errors on their field.

The dialog does not write the file: `save(name, model)` (the screen's) does, through the one
assay.toml writer. It raises `FormErrors` for problems the whole config finds (an override [run]
does not allow) so they show here too, and returns once the dialog may close.

Prefilled values come from assay.toml and are shown through safe_text; a field left exactly as
shown gives back the original text, not its escaped display.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from core.common.safe_text import safe_text
from core.config.model_form import FIELDS, GENERAL, NAME, FormErrors, form_values, model_from_form
from core.config.schema import ModelConfig
from tui import keymap
from tui.render import plain
from tui.screens.dialog import FormDialog

# field -> (label, placeholder)
_LABELS = {
    NAME: ("Name  [models.NAME]", "e.g. gpt-mini"),
    "model": ("litellm model id", "e.g. openai/gpt-4o-mini"),
    "api_base": ("API base", "blank: the provider's"),
    "api_key_env": ("Key environment variable", "e.g. OPENAI_API_KEY (never the key)"),
    "input_price_per_1m": ("$ per 1M input tokens", "blank: litellm price map"),
    "output_price_per_1m": ("$ per 1M output tokens", "blank: litellm price map"),
    "rpm": ("Requests per minute", "blank: no limit"),
    "tpm": ("Tokens per minute", "blank: no limit"),
    "max_concurrency": ("Max concurrency", "blank: [run] concurrency"),
    "timeout_s": ("Timeout (s)", "blank: [run] timeout_s"),
    "params": ("Extra litellm params (JSON object)", 'e.g. {"reasoning_effort": "low"}'),
}
SaveModel = Callable[[str, ModelConfig], None]


class ModelDialog(FormDialog[bool]):
    """Dismisses with True once `save` succeeded (or handled the refusal itself), None on cancel."""

    CSS_PATH = "model_dialog.tcss"
    BINDINGS = [*FormDialog.BINDINGS, *keymap.MODEL_FORM]

    def __init__(self, title: str, *, name: str, model: ModelConfig | None, taken: Collection[str],
                 save: SaveModel) -> None:
        super().__init__()
        self.title_text, self.original, self.taken, self.save = title, model, set(taken), save
        self.start = {NAME: name, **form_values(model)}
        self.shown = {key: safe_text(text, single_line=True) for key, text in self.start.items()}

    def compose(self) -> ComposeResult:
        with Vertical(id="form-box"):
            yield Static(plain(self.title_text, single_line=True), classes="panel-title")
            with Grid(id="fields"):
                for key in (NAME, *FIELDS):
                    label, hint = _LABELS[key]
                    with Vertical(classes="field wide" if key == "params" else "field"):
                        yield Label(plain(label))
                        yield Input(self.shown[key], id=f"f-{key}", placeholder=hint, compact=True)
                        yield Static(id=f"err-{key}", classes="field-error")
            kept = self._kept()
            if kept:
                yield Static(plain(f"Kept as in assay.toml: {kept}", single_line=True, max_len=110), classes="muted")
            yield Static(id="dialog-error")
            with Horizontal(classes="buttons"):
                yield Button("Save", id="go", variant="primary")
                yield Button("Cancel", id="cancel")

    def _kept(self) -> str:
        """The model's keys this form does not show (they are carried over unchanged)."""
        if self.original is None:
            return ""
        rest = self.original.model_dump(exclude_none=True, exclude_defaults=True)
        return ", ".join(f"{k} = {v!r}" for k, v in rest.items() if k not in FIELDS)

    def on_mount(self) -> None:
        self.query_one(f"#f-{NAME}", Input).focus()

    def action_save(self) -> None:
        self.submit()

    def _typed(self, key: str) -> str:
        value = self.query_one(f"#f-{key}", Input).value
        return self.start[key] if value == self.shown[key] else value

    def submit(self) -> None:
        self._show_errors({})
        try:
            name, model = model_from_form(
                self._typed(NAME), {key: self._typed(key) for key in FIELDS}, original=self.original,
                taken=self.taken - {self.start[NAME]})
            self.save(name, model)
        except FormErrors as exc:
            self._show_errors(exc.errors)
            return
        self.dismiss(True)

    def _show_errors(self, errors: dict[str, str]) -> None:
        for key in (NAME, *FIELDS):
            message = errors.get(key)
            error = self.query_one(f"#err-{key}", Static)
            error.update(plain(message or "", single_line=True))
            error.display = message is not None
            self.query_one(f"#f-{key}", Input).set_class(message is not None, "-invalid")
        self.show_error(errors.get(GENERAL, "Fix the fields marked in red." if errors else ""))
        first = next((k for k in (NAME, *FIELDS) if k in errors), None)
        if first is not None:
            self.query_one(f"#f-{first}", Input).focus()
