"""How figures read in every front end: percentages, plain numbers, milliseconds, money, durations.
A missing figure (None) is shown as missing, never printed as 0.

The report's formats are the reference: the CLI, the screens and the report all call these, so a
cost or a pass rate reads the same wherever it appears.
"""

from __future__ import annotations


def pct(x: float | None, digits: int = 1, missing: str = "-") -> str:
    return missing if x is None else f"{100 * x:.{digits}f}%"


def pct_range(ci: tuple[float, float] | None, missing: str = "-") -> str:
    """A confidence interval of a rate: 74.2–97.7%."""
    return missing if ci is None else f"{100 * ci[0]:.1f}–{100 * ci[1]:.1f}%"


def pct_points(x: float | None, missing: str = "-") -> str:
    """A difference of two rates, signed: +3.1 pts."""
    return missing if x is None else f"{100 * x:+.1f} pts"


def num(x: float | None, digits: int = 3, missing: str = "-") -> str:
    return missing if x is None else f"{x:.{digits}f}"


def ms(x: float | None, missing: str = "-") -> str:
    return missing if x is None else f"{x:.0f}"


def money(x: float | None, status: str = "known", missing: str = "-") -> str:
    """US dollars. `status` "partial" marks a lower bound (some calls had no known price: ≥$0.0120);
    a None cost reads "unknown" when some calls were unpriced, else `missing`."""
    if x is None:
        return "unknown" if status != "known" else missing
    # Per-case costs are often fractions of a cent: keep enough decimals to tell models apart.
    if x >= 100:
        text = f"${x:,.2f}"
    elif x >= 0.01 or x == 0:
        text = f"${x:.4f}"
    elif x >= 0.0000005:
        text = f"${x:.6f}"
    else:
        text = "<$0.000001"
    return "≥" + text if status == "partial" else text


def duration(seconds: float | None, missing: str = "--:--") -> str:
    """Elapsed or remaining time as a clock: 0:45, 12:05, 1:02:03."""
    if seconds is None:
        return missing
    h, rem = divmod(int(round(seconds)), 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
