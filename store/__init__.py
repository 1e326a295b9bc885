"""SQLite history through sqlite-utils: connection rules, migrations, typed reads/writes. No UI, no litellm."""

from store.db import connect, write

__all__ = ["connect", "write"]
