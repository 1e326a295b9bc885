"""SQLite history through sqlite-utils: connection rules, migrations, typed reads/writes. No UI, no litellm."""

from store.db import connect, open_workspace_db, write

__all__ = ["connect", "open_workspace_db", "write"]
