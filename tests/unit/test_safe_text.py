"""The one gate for untrusted text: no control byte survives, BiDi is neutralised, markup is left alone."""

from __future__ import annotations

import re

import pytest

from core.common.safe_text import safe_text

HOSTILE = [
    "[/]", "[bold]x[/]", "[@click=app.quit]x[/]",
    "\x1b[31mred\x1b[0m", "\x1b]52;c;ZXZpbA==\x07", "\x9b31m", "\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\",
    "abc\u202edcba", "\x00\x08\x7f", "line\rover",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_no_control_or_bidi_character_survives(text):
    out = safe_text(text)
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", out)


def test_escapes_are_visible_and_markup_untouched():
    assert safe_text("\x1b]52;c;ZXZpbA==\x07") == "\\x1b]52;c;ZXZpbA==\\x07"
    assert safe_text("\x9b") == "\\x9b"
    assert safe_text("a\u202eb") == "a\\u202eb"
    assert safe_text("[bold]x[/]") == "[bold]x[/]"  # widgets get Text objects, never markup


def test_newlines_and_tabs_kept_unless_single_line():
    assert safe_text("a\n\tb") == "a\n\tb"
    assert safe_text("a\n\tb", single_line=True) == "a⏎  b"
    assert safe_text("x" * 10, max_len=5) == "xxxx…"
    assert safe_text(42) == "42"
