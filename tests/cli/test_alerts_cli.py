"""Regression alerts end to end: `assay run --baseline [RUN_ID] --alert` as a user runs it (a
subprocess against the in-process DemoServer), then `assay alerts list/ack`.

The baseline run answers with demo-strong; the candidate keeps the model's name but points it at
demo-fast, which labels every cancellation ticket "billing": a 100-point drop on 40 cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))
from runner_helpers import make_dataset  # noqa: E402

ASSAY = str(Path(sys.executable).parent / "assay")
N = 40

pytestmark = pytest.mark.usefixtures("clean_srv")


def _config(base: str, demo_model: str) -> str:
    return f"""[run]
backoff_base_s = 0.01

[models.m]
model = "openai/{demo_model}"
api_base = "{base}"

[prompts.default]
system = "Classify the customer support ticket. Valid labels: billing, technical, cancellation. Answer with the label only."
template = "{{input_text}}"

[tasks.classification]
kind = "classification"
labels = ["billing", "technical", "cancellation"]

[alerts.webhooks.team]
kind = "json"
url_env = "ASSAY_TEST_UNSET_WEBHOOK_URL"
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("ASSAY_DB", "ASSAY_TEST_UNSET_WEBHOOK_URL"):
        env.pop(name, None)
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env["ASSAY_USER_CONFIG"] = str(tmp_path / "no-user-config.toml")
    env["USER"] = "tester"
    return env


def assay(ws: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ASSAY, *args], cwd=ws, env=_env(ws), capture_output=True, text=True, timeout=120)


def _dataset(db_path: Path) -> None:
    make_dataset(db_path, 0)  # the dataset "d"; its cases are cancellation tickets
    from store import connect, write
    from store import datasets as store_ds

    db = connect(db_path)
    with write(db):
        store_ds.insert_cases(db, store_ds.dataset_id(db, "d"), [
            {"id": f"t{i:03d}", "input_text": f"Please process the cancellation of my order {i}.",
             "expected_output": "cancellation", "task_type": "classification"} for i in range(N)])
    db.close()


def test_run_with_baseline_and_alert_exits_1_stores_the_alert_and_survives_the_webhook(srv, tmp_path):
    ws = tmp_path
    (ws / "assay.toml").write_text(_config(srv.base_url, "demo-strong"))
    _dataset(ws / "assay.db")

    p = assay(ws, "run", "-d", "d", "-m", "m", "--baseline", "--alert")
    assert p.returncode == 2 and "no baseline pinned for dataset 'd'" in p.stderr  # refused before any call
    assert srv.stats()["requests"] == 0

    base = json.loads(assay(ws, "run", "-d", "d", "-m", "m", "--json").stdout)["run_id"]
    assert assay(ws, "baseline", "set", base).returncode == 0

    (ws / "assay.toml").write_text(_config(srv.base_url, "demo-fast"))
    p = assay(ws, "run", "-d", "d", "-m", "m", "--baseline", "--alert")
    assert p.returncode == 1, p.stderr
    assert f"compared with baseline {base}:" in p.stderr
    assert "ALERT: d / m / (all): pass rate 100.0% → 0.0%" in p.stderr
    assert "webhook team (no host): failed" in p.stderr and "Traceback" not in p.stderr

    (alert,) = json.loads(assay(ws, "alerts", "list", "--json").stdout)
    assert (alert["dataset"], alert["model"], alert["task_type"], alert["baseline_run_id"], alert["n_matched"]) == (
        "d", "m", "(all)", base, N)
    assert alert["delta"] == -1.0 and alert["acknowledged_at"] is None
    assert str(alert["id"]) in assay(ws, "alerts", "list").stdout

    p = assay(ws, "alerts", "ack", str(alert["id"]), "--as", "alice")
    assert p.returncode == 0 and "acknowledged by alice" in p.stderr
    assert "already acknowledged by alice" in assay(ws, "alerts", "ack", str(alert["id"])).stderr
    assert json.loads(assay(ws, "alerts", "list", "--json").stdout) == []
    assert json.loads(assay(ws, "alerts", "list", "--all", "--json").stdout)[0]["acknowledged_by"] == "alice"
    assert assay(ws, "alerts", "ack", "999").returncode == 2

    # The same model again, against the explicit baseline run: nothing dropped, exit 0.
    (ws / "assay.toml").write_text(_config(srv.base_url, "demo-strong"))
    p = assay(ws, "run", "-d", "d", "-m", "m", "--baseline", base, "--alert")
    assert p.returncode == 0, p.stderr
    assert "ALERT" not in p.stderr and "d / m / (all)" in p.stderr
    assert len(json.loads(assay(ws, "alerts", "list", "--all", "--json").stdout)) == 1
