"""Untrusted data -> rich `Text`, the only form in which it reaches a widget.

Everything here goes through `core.common.safe_text.safe_text` (control characters made visible, BiDi
neutralised) and becomes a `Text` object, which Textual never parses as markup: `[/]` stays two
brackets and a slash, `[@click=app.quit]` stays text.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rich.text import Text

from core.common.safe_text import safe_text
from core.common.conversation import message_text, turns_after_input, turns_before_input


def plain(value: Any, *, style: str = "", max_len: int | None = None, single_line: bool = False) -> Text:
    return Text(safe_text("" if value is None else value, max_len=max_len, single_line=single_line), style=style)


def pretty_value(value: Any) -> str:
    """An expected output or label for reading: objects as indented JSON, strings as they are."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        if isinstance(parsed, (dict, list)):
            return json.dumps(parsed, indent=2, ensure_ascii=False)
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def one_line(value: Any, max_len: int = 60) -> Text:
    text = value if isinstance(value, str) or value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return plain(text, max_len=max_len, single_line=True)


def short_path(path: Path) -> str:
    """A path as the user would type it: relative to the current folder if inside it, else with ~."""
    try:
        rel = path.relative_to(Path.cwd())
        return str(rel) if str(rel) != "." else "."
    except ValueError:
        pass
    home = Path.home()
    try:
        return os.path.join("~", path.relative_to(home))
    except ValueError:
        return str(path)


def input_with_conversation(input_text: Text, metadata: dict[str, Any], *, titled: bool = False,
                            max_len: int | None = None) -> tuple[Text, dict[str, Any]]:
    """A case's input with the conversation an imported sample or chat record kept around it in
    `metadata.messages`: the turns before it, and a tool-using chat's tool calls and results after
    it, as readable "role: text" turns (each cut to `max_len`); and the rest of the metadata. The
    input is titled when there is a conversation (or with `titled`)."""
    messages = metadata.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        return (section("Input", input_text) if titled else input_text), metadata
    rest = {k: v for k, v in metadata.items() if k != "messages"}
    before, after = turns_before_input(messages), turns_after_input(messages)
    out = Text()
    if before:
        out.append(section("Conversation before the input", _turns_text(before, max_len)))
        out.append("\n\n")
    out.append(section("Input", input_text) if before or titled else input_text)
    if after:
        out.append("\n\n")
        out.append(section("After the input: tool calls and results (not sent to the model)",
                           _turns_text(after, max_len)))
    return out, rest


def _turns_text(turns: list[dict[str, Any]], max_len: int | None) -> Text:
    """"role: text" a line each; an assistant turn that only calls tools shows the calls."""
    out = Text()
    for m in turns:
        if out:
            out.append("\n")
        out.append(plain(m.get("role", "?"), single_line=True, max_len=20, style="bold"))
        out.append(": ")
        text = message_text(m.get("content"))
        calls = m.get("tool_calls")
        if not text and isinstance(calls, list):
            text = "calls " + ", ".join(
                f"{(c.get('function') or {}).get('name', '?')}({(c.get('function') or {}).get('arguments', '')})"
                for c in calls if isinstance(c, dict))
        out.append(plain(text, max_len=max_len))
    return out


def section(title: str, body: Text | str, *, title_style: str = "bold") -> Text:
    """A titled block: the title is ours, the body is already safe Text (or our own string)."""
    out = Text(title, style=title_style)
    out.append("\n")
    out.append(body if isinstance(body, Text) else Text(body))
    return out
