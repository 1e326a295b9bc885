"""How figures read in every front end: percentages, plain numbers, milliseconds; None is shown,
never printed as 0."""

from __future__ import annotations


def pct(x: float | None, digits: int = 1, missing: str = "-") -> str:
    return missing if x is None else f"{100 * x:.{digits}f}%"


def num(x: float | None, digits: int = 3, missing: str = "-") -> str:
    return missing if x is None else f"{x:.{digits}f}"


def ms(x: float | None, missing: str = "-") -> str:
    return missing if x is None else f"{x:.0f}"
