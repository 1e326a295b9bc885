"""The start of a run's worker processes, on the standard library alone: `assay run` starts them
before its own imports, so their litellm import begins at once (`core.run.workers` has the rest).

One process is started: it imports litellm and warms it up, then learns how many workers the run
uses and forks the others (`core.run.workers._serve_forked`). That is one import's CPU instead of
one per worker, on cores the parent's own start shares, and the forks share its memory. It has a
socket to the parent for every worker it may fork; it runs in its own session, so the terminal's
Ctrl+C does not reach it and the whole group can be killed at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time


STOP_WAIT_S = 5.0  # how long a stopping run waits for its workers to exit before it kills them


class StartedWorkers:
    """The first worker process and the parent's end of each possible worker's socket."""

    def __init__(self, most: int):
        self.t0 = time.monotonic()  # the run's start-up (`runs.startup_s`) counts from here
        pairs = [socket.socketpair() for _ in range(most)]
        theirs = [child.fileno() for _, child in pairs]
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", "core.run.workers", *map(str, theirs)], stdin=subprocess.DEVNULL,
            pass_fds=theirs, env=dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True"), start_new_session=True)
        for _, child in pairs:
            child.close()  # only the worker holds its end: its exit is our end of file
        self.sockets = [ours for ours, _ in pairs]

    def stop(self, kill: bool = True, wait_s: float = STOP_WAIT_S) -> None:
        """Leave no worker process: kill the group (every fork with it) unless `kill` is False and
        the first worker exits within `wait_s` (it waits for its forks, so one stuck after the run
        cannot hold the command up for longer), close the sockets not handed over, reap the first.
        Idempotent."""
        if self.proc is None:
            return
        if not kill:
            try:
                self.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                kill = True
        if kill:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        for sock in self.sockets:
            sock.close()
        self.proc.wait()  # exited or killed: at once
        self.proc = None
