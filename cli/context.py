"""Workspace resolution shared by every command: --workspace, --db, ASSAY_DB."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import click


@dataclass
class Workspace:
    root: Path
    db_path: Path
    debug: bool = False
    _db: object | None = field(default=None, repr=False)

    @property
    def config_path(self) -> Path:
        return self.root / "assay.toml"

    def db(self):
        """The workspace database (opened once per command, on the command's thread)."""
        if self._db is None:
            from store import connect

            self._db = connect(self.db_path)
        return self._db


def resolve(workspace: str | None, db: str | None, debug: bool = False) -> Workspace:
    root = Path(workspace or os.getcwd()).resolve()
    db_path = db or os.environ.get("ASSAY_DB") or str(root / "assay.db")
    return Workspace(root=root, db_path=Path(db_path).expanduser().resolve(), debug=debug)


pass_ws = click.make_pass_decorator(Workspace)


def echo_err(message: str) -> None:
    """Messages go to stderr; untrusted parts must already be through safe_text."""
    click.echo(message, err=True)
