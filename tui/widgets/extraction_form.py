"""The extraction form: one input per expected field, prefilled; Tab moves between fields.

Prefill values are untrusted: fields show them through safe_text, and a field left exactly as
shown gives back the original value (not its escaped display). A typed value stays text unless
the field's original value was not text (a number, a list...), in which case JSON is tried first.
"""

from __future__ import annotations

import json
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.widgets import Input, Label

from core.common.safe_text import safe_text


def _shown(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return safe_text(text, single_line=True)


class ExtractionForm(Vertical):
    DEFAULT_CSS = """
    ExtractionForm { height: auto; }
    ExtractionForm Label { color: $text-muted; margin-top: 1; }
    ExtractionForm Input { background: $boost; }
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._fields: tuple[str, ...] = ()
        self._original: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        return iter(())

    def set_fields(self, fields: tuple[str, ...], prefill: dict[str, Any] | None) -> None:
        """Show `fields` with values from `prefill` (rebuilding inputs only when the fields change)."""
        prefill = prefill or {}
        self._original = {f: prefill.get(f) for f in fields}
        if fields != self._fields:
            self._fields = fields
            self.remove_children()
            widgets = []
            for i, name in enumerate(fields):
                widgets.append(Label(safe_text(name, single_line=True), markup=False))
                widgets.append(Input(id=f"field-{i}", compact=True))
            self.mount_all(widgets)
            self.call_after_refresh(self._fill)
        else:
            self._fill()

    def _fill(self) -> None:
        for i, name in enumerate(self._fields):
            try:
                field = self.query_one(f"#field-{i}", Input)
            except NoMatches:  # not mounted yet: the after-refresh fill will do it
                return
            field.value = _shown(self._original.get(name))
            field.cursor_position = len(field.value)

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, name in enumerate(self._fields):
            typed = self.query_one(f"#field-{i}", Input).value
            original = self._original.get(name)
            if typed == _shown(original):
                out[name] = original
            elif original is not None and not isinstance(original, str):
                try:
                    out[name] = json.loads(typed)
                except ValueError:
                    out[name] = typed
            else:
                out[name] = typed
        return out

    def focus_first(self) -> None:
        inputs = self.query(Input)
        if inputs:
            inputs.first().focus()
