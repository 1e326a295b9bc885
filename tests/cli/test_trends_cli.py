"""`assay run --tag`, `assay runs`, `assay trends [rebuild]` and `assay schedule` as a user runs them
(subprocesses against the in-process demo server)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_run_cli import _ws, assay  # noqa: E402

pytestmark = pytest.mark.usefixtures("clean_srv")


def test_tags_runs_and_trends(srv, tmp_path):
    ws = _ws(tmp_path, srv.base_url, n=4)
    try:
        p = assay(ws, "run", "-d", "d", "-m", "strong", "--tag", "git=abc123", "--tag", "trigger=manual")
        assert p.returncode == 0, p.stderr
        srv.configure(model_version="2025-06")
        p = assay(ws, "run", "-d", "d", "-m", "strong", "--no-cache", "--tag", "git=def456")
        assert p.returncode == 0, p.stderr
    finally:
        srv.configure(model_version=None)
    listed = json.loads(assay(ws, "runs", "--json").stdout)
    assert [r["tags"] for r in listed] == [{"git": "def456"}, {"git": "abc123", "trigger": "manual"}]
    assert "git=abc123 trigger=manual" in assay(ws, "runs").stdout

    p = assay(ws, "trends")
    assert p.returncode == 0, p.stderr
    line = next(x for x in p.stdout.splitlines() if x.startswith("d "))
    assert "strong" in line and "(all)" in line and "git=def456" in line and line.split()[3] == "2"

    p = assay(ws, "trends", "-d", "d", "-m", "strong")
    assert p.returncode == 0 and "provider model changed: demo-strong -> demo-strong-2025-06" in p.stdout

    out = json.loads(assay(ws, "trends", "-d", "d", "-m", "strong", "--metric", "latency_p50_ms", "--json").stdout)
    assert [s["task_type"] for s in out] == ["(all)", "generation"]
    points = out[0]["points"]
    assert len(points) == 2 and points[1]["segment"] == 1 and points[0]["tags"]["git"] == "abc123"
    assert points[1]["provider_models"] == ["demo-strong-2025-06"] and points[1]["value"] is not None

    p = assay(ws, "trends", "rebuild")
    assert p.returncode == 0 and "2 run(s)" in p.stderr


def test_usage_errors_exit_2(srv, tmp_path):
    ws = _ws(tmp_path, srv.base_url, n=2)
    p = assay(ws, "trends", "--metric", "accuracy")
    assert p.returncode == 2 and "unknown metric 'accuracy'" in p.stderr
    p = assay(ws, "run", "-d", "d", "-m", "strong", "--tag", "no-equals")
    assert p.returncode == 2 and "KEY=VALUE" in p.stderr
    p = assay(ws, "trends")
    assert p.returncode == 0 and "no trends yet" in p.stderr
    p = assay(ws, "schedule", "-d", "d", "-m", "nope")
    assert p.returncode == 2 and "unknown model" in p.stderr


def test_schedule_prints_cron_lines_and_a_workflow(srv, tmp_path):
    ws = _ws(tmp_path, srv.base_url, n=2)
    with (ws / "assay.toml").open("a") as f:
        f.write('[models.paid]\nmodel = "openai/gpt-4o"\napi_key_env = "OPENAI_API_KEY"\n')
    p = assay(ws, "schedule", "-d", "d", "-m", "strong,paid", "--cron", "0 5 * * 1-5")
    assert p.returncode == 0, p.stderr
    cron = [x for x in p.stdout.splitlines() if x.startswith(("0 5 * * 1-5 ", "0 6 1 * * "))]
    assert len(cron) == 2 and all(f"cd {ws.resolve()} && assay run --dataset d --models strong,paid" in x
                                  and x.split(">>")[0].rstrip().endswith("--baseline --alert") for x in cron)
    assert "OPENAI_API_KEY" in p.stdout
    yaml_text = p.stdout[p.stdout.index("# .github/workflows/assay.yml"):]
    import yaml

    flow = yaml.safe_load(yaml_text)
    job = flow["jobs"]["eval"]
    assert flow[True]["schedule"] == [{"cron": "0 5 * * 1-5"}]  # YAML 1.1 reads the key `on` as true
    assert job["env"]["OPENAI_API_KEY"] == "${{ secrets.OPENAI_API_KEY }}"
    step = next(s for s in job["steps"] if "--baseline --alert" in s.get("run", ""))
    assert "'git=${{ github.sha }}'" in step["run"] and "--models strong,paid" in step["run"]
    assert any(s.get("if") == "always()" and "git push" in s["run"] for s in job["steps"])
