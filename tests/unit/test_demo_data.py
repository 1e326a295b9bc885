"""The bundled demo datasets are valid cases, and the demo workspace builder makes a usable workspace."""

from __future__ import annotations

import pytest

from core.config.schema import load_config
from demo import DATASETS, GUIDELINES, load_cases
from demo.workspace import build_demo_workspace
from core.errors import UsageError
from core.records import EvalCase

LABELS = {"billing", "technical", "account", "cancellation", "other"}
API_BASE = "http://127.0.0.1:8765/v1"


@pytest.mark.parametrize(("name", "task", "n"), [
    ("contracts", "extraction", 24), ("support-tickets", "classification", 30), ("faq", "generation", 12),
])
def test_datasets_are_valid_cases(name, task, n):
    cases = load_cases(name)
    assert len(cases) == n
    parsed = [EvalCase.model_validate(c) for c in cases]
    assert len({c.id for c in parsed}) == n and len({c.input_text for c in parsed}) == n
    assert {c.task_type for c in parsed} == {task}
    assert {c.difficulty for c in parsed} == {"easy", "medium", "hard"} or name == "support-tickets"


def test_contracts_expect_json_objects_with_the_documented_fields():
    cases = load_cases("contracts")
    fields = {"party_a", "party_b", "effective_date", "amount", "currency", "governing_law"}
    multi = [c for c in cases if "parties" in c["expected_output"]]
    assert 2 <= len(multi) <= 5
    for c in cases:
        exp = c["expected_output"]
        keys = fields - {"party_a", "party_b"} | {"parties"} if c in multi else fields
        assert set(exp) == keys, c["id"]
        assert exp["amount"] is None or isinstance(exp["amount"], (int, float))
    assert all(isinstance(p["name"], str) for c in multi for p in c["expected_output"]["parties"])
    assert any(c["expected_output"]["governing_law"] is None for c in cases)  # "not stated" is a right answer


def test_tickets_use_the_five_labels_and_leave_five_unlabeled():
    cases = load_cases("support-tickets")
    unlabeled = [c for c in cases if c.get("expected_output") is None]
    assert len(unlabeled) == 5
    assert {c["expected_output"] for c in cases if c not in unlabeled} == LABELS
    text = GUIDELINES.read_text(encoding="utf-8")
    assert all(f"`{label}`" in text for label in LABELS)


def test_faq_answers_are_short_strings():
    assert all(isinstance(c["expected_output"], str) and len(c["expected_output"].split()) <= 6
               for c in load_cases("faq"))


def test_build_demo_workspace(tmp_path):
    from store import connect
    from store.datasets import dataset_summaries, list_versions

    root = build_demo_workspace(tmp_path / "demo", API_BASE)
    cfg = load_config(root / "assay.toml")
    assert {name: m.model for name, m in cfg.models.items()} == {
        "strong": "openai/demo-strong", "fast": "openai/demo-fast", "flaky": "openai/demo-flaky",
        "judge": "openai/demo-judge"}
    assert all(m.api_base == API_BASE and m.api_key_env is None for m in cfg.models.values())
    prices = {n: (m.input_price_per_1m, m.output_price_per_1m) for n, m in cfg.models.items()}
    assert prices["strong"] == (5.0, 15.0) and prices["fast"] == (0.15, 0.6) and prices["flaky"] == (0.5, 1.5)
    assert cfg.judge.model == "judge"
    assert cfg.tasks["classification"].labels == ["billing", "technical", "account", "cancellation", "other"]
    assert (root / cfg.tasks["classification"].guidelines_file).is_file()
    assert cfg.tasks["extraction"].kind == "extraction" and "governing_law" in cfg.tasks["extraction"].fields
    assert cfg.tasks["generation"].kind == "free_text"
    system, _ = cfg.prompt().variant("extraction")
    assert "JSON" in system and "{" not in system
    db = connect(root / "assay.db")
    summaries = {s["name"]: s for s in dataset_summaries(db)}
    assert set(summaries) == set(DATASETS)
    assert summaries["support-tickets"]["unlabeled"] == 5
    assert set(summaries["contracts"]["task_types"]) == {"extraction"}
    assert all(s["versions"] == 1 for s in summaries.values())
    assert list_versions(db, summaries["faq"]["id"])[0]["reason"] == "import"
    db.close()


def test_rebuild_rules(tmp_path):
    from store import connect
    from store.datasets import dataset_id
    from store.db import write

    root = build_demo_workspace(tmp_path / "demo", API_BASE)
    db = connect(root / "assay.db")
    with write(db):
        db.execute("DELETE FROM cases WHERE dataset_id = ?", [dataset_id(db, "faq")])
    db.close()
    (root / "notes.txt").write_text("mine")
    build_demo_workspace(root, API_BASE, fresh=False)  # keeps what is there
    assert (root / "notes.txt").exists()
    db = connect(root / "assay.db")
    assert db.execute("SELECT COUNT(*) FROM cases").fetchone()[0] == 24 + 30
    db.close()
    build_demo_workspace(root, "http://127.0.0.1:9999/v1")  # fresh: rebuilt from scratch
    assert not (root / "notes.txt").exists()
    assert load_config(root / "assay.toml").models["fast"].api_base == "http://127.0.0.1:9999/v1"

    other = tmp_path / "mine"
    other.mkdir()
    (other / "assay.toml").write_text("[run]\n")
    with pytest.raises(UsageError):
        build_demo_workspace(other, API_BASE)
    assert (other / "assay.toml").read_text() == "[run]\n"


def test_a_folder_that_is_not_a_demo_workspace_is_never_touched(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("mine")  # no assay.toml at all
    for fresh in (True, False):
        with pytest.raises(UsageError, match="refusing to touch it"):
            build_demo_workspace(project, API_BASE, fresh=fresh)
    assert [p.name for p in project.iterdir()] == ["notes.txt"]
