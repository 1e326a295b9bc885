"""`assay serve` in a process of its own, for the benches and the tests that need one.

An in-process `DemoServer` shares its client's GIL: on a loaded machine it answers late, and the
kernel-timed latency then rightly shows it (demo-fast's p50 came out at 36 ms for its 20 ms).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def serve_process(work: Path, flags: Sequence[str] = (), env: Mapping[str, str] | None = None,
                  timeout_s: float = 60.0) -> tuple[subprocess.Popen[bytes], str]:
    """Start `assay serve` on a free port (its port file in `work`), with the demo models' own
    latencies scaled to 0 unless `flags` say otherwise (the last `--latency-scale` wins), and
    return the process and its root URL (add /v1 for a client) once it listens."""
    port_file = work / "port"
    port_file.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", "0", "--port-file", str(port_file),
                             "--latency-scale", "0", *flags], env=None if env is None else dict(env),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    while not (port_file.exists() and port_file.read_text().strip()):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            proc.wait()
            raise RuntimeError("assay serve did not start")
        time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port_file.read_text().strip()}"
