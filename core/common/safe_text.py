"""The one gate for untrusted text (model outputs, dataset fields, labels, error bodies, file names).

Control characters (C0 except newline/tab, DEL, C1) become visible escapes so no ESC/OSC/CSI
sequence reaches a terminal, and BiDi overrides/isolates are neutralised so text cannot reorder
itself on screen. Rich/Textual markup is *not* escaped here: widgets receive the result as
`Text`/`Content` objects or with markup=False, never as markup strings.
"""

from __future__ import annotations

import re

_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
# C0 controls except \t and \n, DEL, C1 controls, BiDi controls.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f" + _BIDI + "]")


def _visible(m: re.Match[str]) -> str:
    ch = m.group(0)
    code = ord(ch)
    if ch == "\r":
        return "\\r"
    if code == 0x1B:
        return "\\x1b"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def safe_text(value: object, *, max_len: int | None = None, single_line: bool = False) -> str:
    """Return `value` as a string that is safe to show in a terminal."""
    text = value if isinstance(value, str) else str(value)
    if max_len is not None and len(text) > max_len:
        text = text[: max_len - 1] + "…"
    text = _UNSAFE.sub(_visible, text)
    if single_line:
        text = text.replace("\n", "⏎ ").replace("\t", " ")
    return text
