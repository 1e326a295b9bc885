"""Create a workspace: the database and a commented starter assay.toml."""

from __future__ import annotations

from pathlib import Path

STARTER_TOML = '''# Assay workspace configuration. See README.md "Configuration" for every key.
'''


def init_workspace(root: Path, db_path: Path) -> list[str]:
    """Create what is missing; never overwrite. Returns human-readable lines of what happened."""
    from store import connect

    out = []
    root.mkdir(parents=True, exist_ok=True)
    cfg = root / "assay.toml"
    if cfg.exists():
        out.append(f"kept existing {cfg}")
    else:
        cfg.write_text(STARTER_TOML, encoding="utf-8")
        out.append(f"wrote {cfg}")
    existed = db_path.exists()
    connect(db_path).close()
    out.append(f"{'opened' if existed else 'created'} {db_path}")
    return out
