"""`assay demo --headless` prints the same report as the golden copy, figure for figure.

The golden file (tests/data/golden/demo_headless.txt) is the headless demo's stdout with the run
ids and the latency cells masked. Both sides are compared as table cells (a line split on runs of
two or more spaces), so a column that widens does not matter; what is left out is only what
depends on time: run ids, the latency columns (p50 ms, p95 ms, client p50, TTFT p50) and the client-saturation
note under a report's title (the event loop's lag). Every pass rate,
count, interval, token count, cost and p-value is compared.

After an intended change to the report, regenerate the golden file with
    .venv/bin/python tests/cli/test_demo_golden.py > tests/data/golden/demo_headless.txt
and review its diff.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "data" / "golden" / "demo_headless.txt"
ENV = {**os.environ, "PYTHONPATH": str(REPO)}

RUN_ID = re.compile(r"\br-\d{8}-\d{6}-[0-9a-f]{4}\b")
RUN_ID_MASK = "r-YYYYMMDD-HHMMSS-xxxx"
# A table cell: text holding no run of two or more spaces (the renderer joins cells with two).
CELL = re.compile(r"\S+(?: \S+)*")
TIMING_HEADERS = frozenset({"p50 ms", "p95 ms", "client p50", "TTFT p50"})
SATURATION_NOTE = "Note: CLIENT SATURATED"  # core.report.render.SATURATION_NOTE


def _scan(text: str) -> Iterator[tuple[str, list[re.Match[str]], frozenset[int], bool]]:
    """Per line (run ids masked): its cells, the indices of the latency columns of the table it is
    in, and whether it is a data row of that table (below the header and its dashed rule)."""
    timing: frozenset[int] = frozenset()
    data_from = 0
    for n, line in enumerate(RUN_ID.sub(RUN_ID_MASK, text).splitlines()):
        if line.startswith(SATURATION_NOTE):  # timing too: the demo's latency-0 runs may saturate the loop
            continue
        cells = list(CELL.finditer(line))
        names = {c.group() for c in cells}
        if not cells:  # a blank line ends a table
            timing = frozenset()
        elif TIMING_HEADERS & names:
            timing = frozenset(i for i, c in enumerate(cells) if c.group() in TIMING_HEADERS)
            data_from = n + 2
        yield line, cells, timing, bool(timing) and n >= data_from


def normalise(text: str) -> list[list[str]]:
    """Each line's cells, run ids masked and the latency columns left out."""
    return [[c.group() for i, c in enumerate(cells) if i not in timing] for _, cells, timing, _ in _scan(text)]


def mask(text: str) -> str:
    """The text with run ids and latency figures masked in place (alignment kept): the golden file."""
    out = []
    for line, cells, timing, is_data in _scan(text):
        if is_data:
            for i in sorted(timing & set(range(len(cells))), reverse=True):
                c = cells[i]
                line = line[:c.start()] + "~".rjust(c.end() - c.start()) + line[c.end():]
        out.append(line)
    return "\n".join(out) + "\n"


def run_demo(root: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "demo", "--headless", "--dir", str(root), "--port", "0",
         "--latency-scale", "0"],
        cwd=root.parent, capture_output=True, text=True, timeout=240, env=ENV,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_headless_demo_prints_the_golden_report(tmp_path: Path):
    got = normalise(run_demo(tmp_path / "demo"))
    want = normalise(GOLDEN.read_text(encoding="utf-8"))
    assert got == want


def test_normalise_ignores_timing_and_alignment_only():
    golden = GOLDEN.read_text(encoding="utf-8")
    lines = golden.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("model ") and "p50 ms" in line)
    row = lines[header + 2]
    # Slower latencies that widen their columns (and so shift everything after them): still equal.
    widened = lines[:header + 2] + [re.sub(r"^(\S+ +\S+) +~ +~ +~", r"\1  123456  1234567  8910", row)]
    assert widened[-1] != row
    assert normalise("\n".join(widened + lines[header + 3:]) + "\n") == normalise(golden)
    # Any figure other than a latency: different.
    for old, new in (("91.7%", "91.6%"), ("$0.0335", "$0.0336"), ("4.8e-07", "4.9e-07"), (" 24 ", " 23 ")):
        assert old in golden
        assert normalise(golden.replace(old, new, 1)) != normalise(golden), old


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        sys.stdout.write(mask(run_demo(Path(tmp) / "demo")))
