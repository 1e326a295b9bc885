"""Package layout and import hygiene: the rules of DESIGN.md ("Layout"), checked on the source (AST)
and at run time. `layout_violations(root)` is the checker; the synthetic-tree tests prove that each
rule fails on a deliberate violation, so a green run means something."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "store", "scorers", "tui", "cli", "demo")

# Inside core, an area may import only areas of a lower rank (or itself). models and labeling share
# a rank and so may not import each other; the package root (core/__init__.py: the version) is rank 0.
CORE_RANK = {
    "": 0, "common": 0, "errors": 0, "records": 0,
    "config": 1,
    "workspace": 2,
    "datasets": 3,
    "models": 4, "labeling": 4,
    "run": 5,
    "report": 6,
    "review": 7,
    "trends": 8,
}

# What each top-level package may never import (the heavy/UI libraries and the layers above it).
FORBIDDEN = {
    "core": ("textual", "rich", "tui", "cli", "demo"),
    "store": ("textual", "rich", "tui", "cli", "core", "scorers", "litellm", "demo"),
    "scorers": ("textual", "rich", "tui", "cli", "core", "store", "litellm", "demo"),
    "tui": ("cli", "store", "scorers", "demo", "litellm"),
    "cli": ("tui", "store", "scorers"),  # `assay`/`assay label` open the app through cli.app_cmds' lazy import
    "demo": ("tui", "cli", "store"),
}
# cli opens the app; the demo server answers dates the way the scorers read them (a pure function).
ALLOWED = {("cli/app_cmds.py", "tui.app"), ("demo/serve/heuristics.py", "scorers.normalize")}

SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA|BEGIN|REPLACE|WITH\s+\w+\s+AS)\b"
                 r"|\bSELECT\b.+\bFROM\b", re.S)


def _module_of(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST, module: str, is_pkg: bool) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_pkg else 0)]
                names.add(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                names.add(node.module)
                if node.module == "core":  # `from core import run` names an area
                    names.update(f"core.{a.name}" for a in node.names)
    return names


def _core_area(module: str) -> str | None:
    parts = module.split(".")
    return (parts[1] if len(parts) > 1 else "") if parts[0] == "core" else None


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def layout_violations(root: Path) -> list[str]:
    bad: list[str] = []
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            rel = str(path.relative_to(root))
            tree = ast.parse(path.read_text(encoding="utf-8"))
            module = _module_of(path, root)
            for name in sorted(_imports(tree, module, path.name == "__init__.py")):
                top = name.split(".")[0]
                if (rel, name) in ALLOWED:
                    continue
                if top in FORBIDDEN[pkg] and top != pkg:
                    bad.append(f"{rel}: {pkg} must not import {name}")
                src, dst = _core_area(module), _core_area(name)
                if src is not None and dst is not None and src != dst:
                    if src not in CORE_RANK or dst not in CORE_RANK:
                        bad.append(f"{rel}: core area {src or dst!r} has no rank in CORE_RANK")
                    elif CORE_RANK[dst] >= CORE_RANK[src] and dst != "":
                        bad.append(f"{rel}: core.{src} (rank {CORE_RANK[src]}) must not import {name} "
                                   f"(rank {CORE_RANK[dst]})")
            if pkg != "store":
                skip = _docstrings(tree)
                for node in ast.walk(tree):
                    if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
                            and SQL.search(node.value)):
                        bad.append(f"{rel}:{node.lineno}: SQL outside store/: {node.value.strip()[:40]!r}")
    return bad


# -- the real tree --------------------------------------------------------------------------


@pytest.mark.parametrize("pkg", PACKAGES)
def test_packages_resolve_to_this_repository(pkg):
    mod = importlib.import_module(pkg)
    assert Path(mod.__file__).resolve().parent == REPO / pkg


def test_the_repository_follows_the_layout_rules():
    assert layout_violations(REPO) == []


def test_every_core_area_has_a_rank():
    areas = {p.stem if p.is_file() else p.name for p in (REPO / "core").iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())) and p.name != "__init__.py"}
    assert areas <= set(CORE_RANK), areas - set(CORE_RANK)


# -- the checker fails on deliberate violations (a small synthetic tree) ------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir(exist_ok=True)
        (tmp_path / pkg / "__init__.py").write_text("")
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.mark.parametrize("files, expected", [
    ({"core/config/schema.py": "from core.run.engine import run\n"}, "core.config (rank 1) must not import core.run.engine"),
    ({"core/models/client.py": "from core.labeling import session\n"}, "must not import core.labeling"),
    ({"core/datasets/x.py": "def f():\n    from core import report\n"}, "must not import core.report"),
    ({"core/common/x.py": "from ..run import engine\n"}, "core.common (rank 0) must not import core.run"),
    ({"core/review/x.py": "import textual.widgets\n"}, "core must not import textual.widgets"),
    ({"core/run/x.py": "import demo.serve\n"}, "core must not import demo.serve"),
    ({"tui/screens/x.py": "from store.datasets import CaseRow\n"}, "tui must not import store.datasets"),
    ({"tui/app.py": "from cli.context import Workspace\n"}, "tui must not import cli.context"),
    ({"cli/x.py": "from scorers.registry import build_scorer\n"}, "cli must not import scorers.registry"),
    ({"store/x.py": "from core.records import EvalCase\n"}, "store must not import core.records"),
    ({"core/datasets/x.py": "Q = '''\n  SELECT id FROM cases WHERE x = ?'''\n"}, "SQL outside store/"),
    ({"tui/x.py": "db.execute('UPDATE runs SET status = ?', [s])\n"}, "SQL outside store/"),
    ({"core/newarea/x.py": "from core.run import engine\n"}, "has no rank"),
])
def test_a_deliberate_violation_is_caught(tmp_path, files, expected):
    found = layout_violations(_tree(tmp_path, files))
    assert any(expected in v for v in found), found


def test_allowed_imports_pass_on_a_synthetic_tree(tmp_path):
    root = _tree(tmp_path, {
        "core/run/engine.py": "from core.models.client import ModelClient\nfrom core.common.stats import percentile\n"
                              "import store\nfrom scorers.base import combine\nimport core\n",
        "core/report/build.py": "from core.run.events import Progress\n",
        "tui/screens/x.py": "from core.report.build import build_report\nimport textual\n",
        "store/runs.py": "Q = 'SELECT * FROM runs'\n",
        "core/datasets/x.py": 'def f():\n    """SELECT the cases FROM the page (prose, not SQL)."""\n',
    })
    assert layout_violations(root) == []


# -- run time: the CLI starts light ---------------------------------------------------------

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
