"""The contamination probe against the in-process demo server: it finds demo-memo (which has
memorised the first half of the support-tickets and faq cases) and not demo-fast or demo-strong,
whose shares stay at their shuffled-control level; `assay probe contamination` prints every figure
in --json, stores a probe run `assay probe show` reads back, and exits 2 on bad input."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from runner_helpers import config, toml_text

from cli.main import cli
from core.errors import ConfigError, NotFoundError, UsageError
from core.run.contamination import ProbeRequest, run_probe
from core.run.history import list_runs
from demo import load_cases
from store import connect, write
from store import datasets as store_ds

pytestmark = pytest.mark.usefixtures("clean_srv")

MODELS = {"memo": {"model": "openai/demo-memo"}, "fast": {"model": "openai/demo-fast"},
          "strong": {"model": "openai/demo-strong", "input_price_per_1m": 1.0, "output_price_per_1m": 2.0},
          "production": {"model": "logged"}}


def _workspace(root: Path, base_url: str) -> Path:
    db = connect(root / "assay.db")
    with write(db):
        for name in ("support-tickets", "faq", "contracts"):
            store_ds.insert_cases(db, store_ds.create_dataset(db, name), load_cases(name))
    db.close()
    (root / "assay.toml").write_text(toml_text(base_url, MODELS, backoff_base_s=0.01))
    return root


def _probe(root: Path, srv, dataset: str, **kw):
    db = connect(root / "assay.db")
    try:
        return asyncio.run(run_probe(db, config(srv.base_url, MODELS), ProbeRequest(dataset=dataset, **kw)))
    finally:
        db.close()


def test_the_probe_finds_the_memorising_model_and_only_it(tmp_path, srv):
    root = _workspace(tmp_path, srv.base_url)
    report = _probe(root, srv, "support-tickets", models=["memo", "fast", "strong"])
    by = {m.model: m for m in report.models}
    assert report.status == "finished" and report.cases == 30 and report.too_short == 0
    memo, fast, strong = by["memo"], by["fast"], by["strong"]
    assert (memo.cases, memo.errors) == (30, 0)
    assert memo.flagged == 15 and memo.flagged_share == 0.5  # exactly the memorised half
    assert memo.control_share == 0.0  # a shuffled prefix is recognised by no one
    assert memo.p_value < 0.001 and memo.suspected
    assert memo.expected_reproduced == 15 and memo.expected_cases == 25  # the last five are unlabeled
    assert memo.expected_share > memo.expected_chance_share
    assert {w.case_id for w in memo.worst} <= {c["id"] for c in load_cases("support-tickets")[:15]}
    assert memo.worst[0].longest_run_ratio == 1.0 and memo.worst[0].control_ratio < 0.5
    for other in (fast, strong):  # near the control baseline
        assert other.flagged_share <= other.control_share + 0.05, other
        assert other.expected_reproduced == 0 and not other.suspected
    # Unknown prices stay unknown; a priced model has a cost.
    assert memo.cost_usd is None and memo.cost_unknown == 30 * 2 + 25
    assert strong.cost_usd is not None and strong.cost_usd > 0 and strong.cost_unknown == 0

    # A dataset demo-memo never saw: nothing flagged for anyone.
    contracts = _probe(root, srv, "contracts", models=["memo"], split=0.3)
    assert contracts.models[0].flagged == 0 and not contracts.models[0].suspected

    # Probe runs are their own kind: the eval run history does not list them (and does not crash).
    assert list_runs(connect(root / "assay.db")) == []


def test_bad_input_is_refused_before_any_call(tmp_path, srv):
    root = _workspace(tmp_path, srv.base_url)
    with pytest.raises(UsageError, match="--split"):
        _probe(root, srv, "faq", models=["memo"], split=1.0)
    with pytest.raises(UsageError, match="--threshold"):
        _probe(root, srv, "faq", models=["memo"], threshold=0)
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        _probe(root, srv, "faq", models=["nope"])
    with pytest.raises(NotFoundError, match="no dataset named 'missing'"):
        _probe(root, srv, "missing", models=["memo"])
    with pytest.raises(UsageError, match="model 'production' answers with what production logged"):
        _probe(root, srv, "faq", models=["memo", "production"])
    assert srv.stats()["requests"] == 0


def _assay(root: Path, *args: str):
    return CliRunner().invoke(cli, ["-w", str(root), *args], env={"ASSAY_DB": None})


def test_cli_json_show_and_exit_codes(tmp_path, srv):
    root = _workspace(tmp_path, srv.base_url)
    p = _assay(root, "probe", "contamination", "-d", "faq", "-m", "memo,fast", "--json")
    assert p.exit_code == 0, p.output
    data = json.loads(p.stdout)
    assert data["kind"] == "contamination" and data["dataset"] == "faq" and data["split"] == 0.5
    memo, fast = data["models"]
    assert (memo["model"], memo["flagged"], memo["cases"]) == ("memo", 6, 12)
    assert memo["suspected"] is True and fast["suspected"] is False
    for key in ("flagged_share", "flagged_ci", "control_share", "p_value", "mean_run_ratio", "mean_ngram_precision",
                "expected_share", "expected_chance_share", "expected_p_value", "worst", "cost_usd", "cost_unknown"):
        assert key in memo
    assert memo["worst"][0]["longest_run_ratio"] == 1.0

    shown = _assay(root, "probe", "show", data["run_id"])
    assert shown.exit_code == 0 and "SUSPECTED" in shown.stdout and "worst cases, memo" in shown.stdout
    assert json.loads(_assay(root, "probe", "show", data["run_id"], "--json").stdout) == data

    for argv in (["-d", "faq", "-m", "memo", "--split", "0"], ["-d", "faq", "-m", "memo", "--threshold", "2"],
                 ["-d", "faq", "-m", "nope"], ["-d", "missing", "-m", "memo"]):
        bad = _assay(root, "probe", "contamination", *argv)
        assert bad.exit_code == 2, (argv, bad.output)
        assert "error: " in bad.stderr and "Traceback" not in bad.output
    assert _assay(root, "probe", "show", "p-nope").exit_code == 2
