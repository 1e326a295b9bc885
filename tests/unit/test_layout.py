"""Package layout and import hygiene: the layering in DESIGN.md, checked on the source and at run time."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("pkg", ["core", "store", "scorers", "tui", "cli"])
def test_packages_resolve_to_this_repository(pkg):
    mod = importlib.import_module(pkg)
    assert Path(mod.__file__).resolve().parent == REPO / pkg


def _imports(pkg: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in (REPO / pkg).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        out[str(path.relative_to(REPO))] = names
    return out


FORBIDDEN = {
    "core": ("textual", "tui", "cli"),
    "store": ("textual", "tui", "cli", "core", "litellm", "rich"),
    "scorers": ("textual", "tui", "cli", "core", "store", "litellm", "rich"),
}


@pytest.mark.parametrize("pkg", sorted(FORBIDDEN))
def test_layering(pkg):
    bad = []
    for path, names in _imports(pkg).items():
        for name in names:
            if name.split(".")[0] in FORBIDDEN[pkg]:
                bad.append(f"{path}: {name}")
    assert not bad, bad


_PROBE = """
import sys
sys.argv = ["assay", *sys.argv[1:]]
from cli.main import cli
try:
    cli(prog_name="assay")
except SystemExit:
    pass
heavy = sorted(m for m in ("litellm", "textual", "openai") if m in sys.modules)
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["datasets"], ["db", "path"]])
def test_cli_start_does_not_import_heavy_modules(tmp_path, args):
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, "--db", str(tmp_path / "a.db"), *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("HEAVY=")]
    assert line == ["HEAVY="], proc.stderr
