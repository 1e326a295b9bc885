"""A canary key set through api_key_env never reaches the DB file, its WAL, stdout/stderr or the
exports — even when the provider echoes it back in error bodies."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))
from runner_helpers import make_dataset, toml_text  # noqa: E402

from core.models.redact import MASK, Redactor  # noqa: E402

ASSAY = str(Path(sys.executable).parent / "assay")
CANARY = "sk-canary-XYZ123456789abcdefCANARY"
BARE_CANARY = "canary0bare0value0777"  # no key shape: only redaction by value can catch it


class EchoKeyHandler(BaseHTTPRequestHandler):
    """A provider that echoes the caller's credentials in its error bodies (some do)."""

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length", 0)))
        auth = self.headers.get("authorization", "")
        key = auth.removeprefix("Bearer ")
        status = 401 if "sk-" in key else 500
        message = (f"Incorrect API key provided: {key}. You sent Authorization: {auth}; "
                   f"api_key={key} (masked: {key[:8]}****{key[-4:]})")
        body = json.dumps({"error": {"message": message, "type": "invalid_request_error", "code": None}}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def echo_base():
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoKeyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_canary_keys_never_stored_or_printed(echo_base, tmp_path):
    models = {"keyed": {"model": "openai/demo-strong", "api_key_env": "CANARY_KEY"},
              "bare": {"model": "openai/demo-fast", "api_key_env": "BARE_KEY"}}
    (tmp_path / "assay.toml").write_text(toml_text(echo_base, models, retries=1, backoff_base_s=0.01))
    make_dataset(tmp_path / "assay.db", 3)
    env = dict(os.environ, CANARY_KEY=CANARY, BARE_KEY=BARE_CANARY, LITELLM_LOCAL_MODEL_COST_MAP="True")
    env.pop("ASSAY_DB", None)

    def assay(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([ASSAY, *args], cwd=tmp_path, env=env, capture_output=True, timeout=120)

    # Hold a connection so the last writer does not checkpoint and delete the WAL: grep it too.
    keeper = sqlite3.connect(tmp_path / "assay.db")
    keeper.execute("SELECT COUNT(*) FROM sqlite_master").fetchall()
    outputs = []
    for args in (["run", "-d", "d", "-m", "keyed,bare", "--max-error-rate", "1"],
                 ["run", "-d", "d", "-m", "keyed,bare", "--max-error-rate", "1", "--json"],
                 ["--debug", "run", "-d", "d", "-m", "keyed", "--max-error-rate", "1"],
                 ["runs", "--json"]):
        p = assay(*args)
        assert p.returncode == 0, p.stderr.decode()
        outputs += [p.stdout, p.stderr]
    run_id = json.loads(outputs[2])["run_id"]
    report = assay("report", run_id, "--format", "json")
    outputs += [report.stdout, report.stderr]
    # The errors really happened and their messages were kept (redacted), so the test has teeth.
    conn_rows = subprocess.run(
        [sys.executable, "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); "
         "print(c.execute('select group_concat(error_message, \"|\") from results').fetchone()[0])",
         str(tmp_path / "assay.db")], capture_output=True, text=True).stdout
    assert "Incorrect API key provided" in conn_rows and MASK in conn_rows
    files = [p for p in tmp_path.iterdir() if p.is_file()]
    assert any(p.name.endswith("-wal") for p in files)
    blobs = [p.read_bytes() for p in files] + outputs
    keeper.close()
    for secret in (CANARY, BARE_CANARY, CANARY[:8] + "****" + CANARY[-4:], CANARY[3:20]):
        for blob in blobs:
            assert secret.encode() not in blob


def test_redactor_by_value_and_by_pattern():
    r = Redactor(["plainsecret123", "x"])  # too-short values are ignored (they would mask words)
    text = ("key plainsecret123, Authorization: Bearer abc.def-ghi, sk-proj-AbCdEf123456789, "
            'api_key=zzz999, "x-api-key": "q1w2e3", AIzaSyA1234567890abcdefghijklmnop, ordinary x words')
    out = r(text)
    for leaked in ("plainsecret123", "abc.def-ghi", "sk-proj-AbCdEf123456789", "zzz999", "q1w2e3", "AIzaSy"):
        assert leaked not in out
    assert "ordinary x words" in out
    assert r(None) is None and r("") == ""
