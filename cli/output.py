"""Terminal output shared by the CLI commands: safe single-line text, plain tables, JSON on stdout.

Light on purpose (core.common.safe_text is a regex): importing it while the CLI is built costs nothing.
"""

from __future__ import annotations

import json
from typing import Any

import click

from core.common.safe_text import safe_text


def safe(value: object, max_len: int | None = None) -> str:
    """Untrusted text (names, file names, case text, error bodies) as one terminal-safe line."""
    return safe_text(value, max_len=max_len, single_line=True)


def table(headers: list[str], rows: list[list[str]], align: str) -> str:
    """Plain columns; `align` has one 'l' or 'r' per column. Cells must already be safe."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    return "\n".join(
        "  ".join(c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(row, widths, align)).rstrip()
        for row in [headers, *rows]
    )


def print_json(data: Any) -> None:
    """Data on stdout as indented JSON; ensure_ascii keeps every control or BiDi character escaped."""
    click.echo(json.dumps(data, indent=2))
