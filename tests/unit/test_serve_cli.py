"""`assay serve` as a user runs it: a real process, a port file, Ctrl+C."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx
import pytest
from click.testing import CliRunner

from cli.main import cli
from cli.serve_cmds import _fault


def _wait_for(path, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError("the server never wrote its port file")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_process_answers_and_stops_cleanly(tmp_path, sig):
    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--port", "0", "--port-file", str(port_file),
         "--latency-scale", "0", "--fault", "503:1@demo-flaky", "--rpm-limit", "100"],
        stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    try:
        port = int(_wait_for(port_file))
        base = f"http://127.0.0.1:{port}/v1"
        msgs = [{"role": "user", "content": "hi"}]
        assert httpx.post(base + "/chat/completions", json={"model": "demo-fast", "messages": msgs}).status_code == 200
        assert httpx.post(base + "/chat/completions", json={"model": "demo-flaky", "messages": msgs}).status_code == 503
        assert httpx.get(base.removesuffix("/v1") + "/_assay/config").json()["rpm_limit"] == 100
    finally:
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert f"Assay demo server on http://127.0.0.1:{port}/v1 (models: demo-strong" in err
    assert "Traceback" not in err and not port_file.exists()


def test_serve_refuses_a_remote_host_and_bad_faults():
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "--allow-remote" in result.output
    result = CliRunner().invoke(cli, ["serve", "--fault", "teapot"])
    assert result.exit_code == 2 and "unknown fault kind" in result.output


def test_fault_option_syntax():
    assert _fault("429") == {"kind": "429"}
    assert _fault("429:0.5:Wed, 21 Oct 2015 07:28:00 GMT@demo-fast") == {
        "kind": "429", "rate": 0.5, "retry_after": "Wed, 21 Oct 2015 07:28:00 GMT", "model": "demo-fast"}
    assert _fault("hang::") == {"kind": "hang"}
