"""Which process owns a running run: "host:pid", checked with signal 0 on the same host.

A run whose owner died (kill -9, power loss) would otherwise say "running" forever; and two
processes resuming the same run at once would race for the same calls.
"""

from __future__ import annotations

import os
import socket


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str | None) -> bool | None:
    """True/False for an owner on this host; None when it cannot be told (another host, no owner)."""
    if not owner or ":" not in owner:
        return None
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def shown_status(status: str, owner: str | None) -> str:
    """`running` whose process is gone is shown as `stale` (resume it to finish)."""
    if status == "running" and owner_alive(owner) is False:
        return "stale"
    return status
