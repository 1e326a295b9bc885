"""Labeling logic without a UI: schemas, queue order, decisions, undo, resume, blind mode, adjudication."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.config.schema import parse_config
from core.datasets.ground_truth import derived_labels
from core.labeling.overview import label_overview
from core.labeling.queue import queue_key
from core.labeling.schema import build_schema, load_guidelines
from core.labeling.session import LabelSession
from store import connect, write
from store import datasets as store_ds
from store.labels import iter_events

REPO = Path(__file__).resolve().parents[2]
CFG = parse_config({
    "labeling": {"guidelines": "# Be careful\nRead twice."},
    "tasks": {
        "sentiment": {"kind": "classification", "labels": ["pos", "neg", "neutral"],
                      "hints": {"pos": "happy customer"}, "keys": {"neutral": "0"}},
        "invoice": {"kind": "extraction", "fields": ["total", "vendor"]},
        "answer": {"kind": "free_text", "guidelines": "Whole sentences."},
        "safety": {"kind": "pass_fail"},
        "quality": {"kind": "rating"},
    },
})


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def seed(tmp_path: Path, n: int = 12, task_type: str = "sentiment", **extra) -> tuple[object, int]:
    db = connect(tmp_path / "assay.db")
    with write(db):
        ds = store_ds.create_dataset(db, "reviews")
        cases = [{"id": f"case-{i:03d}", "input_text": f"review number {i}", "task_type": task_type} for i in range(n)]
        cases += extra.get("more", [])
        store_ds.insert_cases(db, ds, cases)
    return db, ds


def session(db, ds, annotator="ana", cfg=CFG, clock=None, **kw) -> LabelSession:
    return LabelSession(db, ds, annotator, cfg, Path("/nonexistent"), clock=clock or FakeClock(), **kw)


def current(db, ds, annotator="ana"):
    from core.datasets.ground_truth import current_labels

    return {c: v[annotator] for c, v in current_labels(iter_events(db, ds)).items() if annotator in v}


# --- schemas ------------------------------------------------------------------------------------


def test_classification_keys_digits_and_explicit_keys():
    schema = build_schema(CFG, "sentiment")
    assert [(c.value, c.keys, c.hint) for c in schema.choices] == [
        ("pos", ("1",), "happy customer"), ("neg", ("2",), ""), ("neutral", ("0",), "")]
    assert schema.choice_for("2").value == "neg"
    assert schema.choice_for("0").value == "neutral"
    assert schema.choice_for("9") is None


def test_task_with_labels_and_no_kind_is_classification():
    cfg = parse_config({"tasks": {"topic": {"labels": ["billing", "bug"]}, "notes": {}}})
    assert cfg.tasks["topic"].kind == "classification" and cfg.tasks["notes"].kind == "free_text"
    schema = build_schema(cfg, "topic")
    assert schema.single_key and [(c.value, c.keys) for c in schema.choices] == [("billing", ("1",)), ("bug", ("2",))]
    # An explicit kind still wins over the inference.
    assert parse_config({"tasks": {"t": {"kind": "free_text", "labels": ["a"]}}}).tasks["t"].kind == "free_text"


def test_task_with_fields_and_no_kind_is_extraction_and_both_is_an_error():
    from core.errors import ConfigError

    cfg = parse_config({"tasks": {"invoice": {"fields": ["vendor", "total"]}}})
    assert cfg.tasks["invoice"].kind == "extraction"
    with pytest.raises(ConfigError, match=r"tasks\.x.*set 'kind'"):
        parse_config({"tasks": {"x": {"labels": ["a"], "fields": ["b"]}}})


def test_task_with_labels_and_no_kind_loads_from_assay_toml(tmp_path):
    from core.config.schema import load_config

    path = tmp_path / "assay.toml"
    path.write_text('[tasks.classification]\nlabels = ["spam", "ham"]\n', encoding="utf-8")
    assert load_config(path).tasks["classification"].kind == "classification"


def test_reserved_key_clash_is_dropped_with_a_warning():
    cfg = parse_config({"tasks": {"t": {"kind": "classification", "labels": ["a", "b"], "keys": {"a": "s"}}}})
    schema = build_schema(cfg, "t", reserved_keys={"s", "f"})
    assert schema.choices[0].keys == () and "clashes" in schema.warnings[0]
    assert schema.choices[1].keys == ("1",)


def test_pass_fail_keys_do_not_clash_with_flag_or_note_and_rating_uses_digits():
    pf = build_schema(CFG, "safety")
    assert pf.choice_for("p").value == "pass" and pf.choice_for("x").value == "fail"
    assert pf.choice_for("f") is None and pf.choice_for("n") is None
    assert [c.value for c in build_schema(CFG, "quality").choices] == ["1", "2", "3", "4", "5"]
    assert build_schema(CFG, "unknown-task").kind == "free_text"
    assert build_schema(CFG, "invoice").fields == ("total", "vendor")


def test_guidelines_version_is_a_content_hash(tmp_path):
    (tmp_path / "g.md").write_text("Rule from a file.", encoding="utf-8")
    cfg = parse_config({"labeling": {"guidelines_file": "g.md"}, "tasks": {"answer": {"guidelines": "Extra."}}})
    g = load_guidelines(cfg, "answer", tmp_path)
    assert g.text == "Rule from a file.\n\nExtra." and len(g.version) == 12
    assert load_guidelines(cfg, "other", tmp_path).version != g.version
    missing = load_guidelines(parse_config({"labeling": {"guidelines_file": "nope.md"}}), "x", tmp_path)
    assert missing.version is None and "nope.md" in missing.warnings[0]


# --- queue and decisions ------------------------------------------------------------------------


def test_queue_order_is_stable_per_annotator_and_differs_between_annotators(tmp_path):
    db, ds = seed(tmp_path)
    a1 = session(db, ds, "ana")
    a1.open()
    again = session(db, ds, "ana")
    again.open()
    assert a1._label.order == again._label.order
    assert a1._label.order == sorted(a1._label.order, key=lambda c: queue_key("ana", c))
    bo = session(db, ds, "bo")
    bo.open()
    assert sorted(bo._label.order) == sorted(a1._label.order) and bo._label.order != a1._label.order


def test_decide_writes_through_and_advances_with_time_on_case(tmp_path):
    db, ds = seed(tmp_path)
    clock = FakeClock()
    s = session(db, ds, clock=clock)
    view = s.open()
    assert view.position == 1 and view.message.startswith("Starting at case 1 of 12")
    first = view.case.case_id
    clock.t += 2.5
    view = s.decide("neg")
    # Committed before the next case is shown: a second connection sees it.
    other = connect(tmp_path / "assay.db")
    [event] = list(iter_events(other, ds))
    assert (event["case_id"], event["kind"], event["value"], event["annotator"]) == (first, "label", "neg", "ana")
    assert event["time_on_case_ms"] == 2500 and event["guidelines_version"] == s.guidelines_for("sentiment").version
    assert view.position == 2 and view.progress.done == 1 and view.progress.total == 12
    assert view.progress.rate_per_min == pytest.approx(24.0) and view.progress.eta_s == pytest.approx(11 * 2.5)


def test_undo_is_unlimited_and_returns_to_the_case(tmp_path):
    db, ds = seed(tmp_path)
    s = session(db, ds)
    s.open()
    ids = []
    for value in ("pos", "neg", "neutral"):
        ids.append(s.current_case_id())
        s.decide(value)
    view = s.undo()
    assert view.case.case_id == ids[2] and view.mine is None and "Undid label 'neutral'" in view.message
    view = s.undo()
    assert view.case.case_id == ids[1]
    assert current(db, ds) == {ids[0]: "pos"}
    # Relabel, then undo brings back "as if it never happened".
    s.decide("pos")
    assert current(db, ds) == {ids[0]: "pos", ids[1]: "pos"}
    s.undo()
    s.undo()
    view = s.undo()
    assert current(db, ds) == {} and view.case.case_id == ids[0]
    assert s.undo().message == "Nothing to undo."


def test_relabel_changes_value_and_undo_restores_the_earlier_one(tmp_path):
    db, ds = seed(tmp_path)
    s = session(db, ds)
    s.open()
    cid = s.current_case_id()
    s.decide("pos")
    s.step(-1)
    assert s.current_case_id() == cid and s.view().mine == ("label", "pos")
    s.decide("neg")
    assert current(db, ds)[cid] == "neg"
    s.undo()
    assert current(db, ds)[cid] == "pos"


def test_resume_at_first_undecided_case_skips_come_last(tmp_path):
    db, ds = seed(tmp_path, n=6)
    s = session(db, ds)
    s.open()
    order = list(s._label.order)
    s.decide("pos")
    s.skip()
    s.flag("unsure about sarcasm")
    s.decide("neg")
    view = session(db, ds).open()
    assert view.case.case_id == order[4]
    assert view.message == f"Resumed at case 5 of 6 (id {order[4]})"
    assert (view.progress.done, view.progress.skipped, view.progress.flagged) == (2, 1, 1)
    s.decide("pos")
    s.decide("pos")
    # Only the skipped case is left: it comes back.
    assert s.view().case.case_id == order[1]
    s.decide("neutral")
    view = s.view()
    assert view.case is None and view.progress.done == 5
    assert "decided" in session(db, ds).open().message


def test_skip_on_a_labeled_case_keeps_the_label(tmp_path):
    db, ds = seed(tmp_path, n=3)
    s = session(db, ds)
    s.open()
    cid = s.current_case_id()
    s.decide("pos")
    s.step(-1)
    s.skip()
    assert current(db, ds) == {cid: "pos"}


def test_queue_leaves_out_excluded_imported_and_settled_cases(tmp_path):
    more = [{"id": "has-expected", "input_text": "x", "task_type": "sentiment", "expected_output": "pos"},
            {"id": "excluded", "input_text": "y", "task_type": "sentiment", "excluded": True}]
    db, ds = seed(tmp_path, n=4, more=more)
    bo = session(db, ds, "bo")
    bo.open()
    bo.decide("pos")  # settles one case with required_labels = 1
    ana = session(db, ds, "ana")
    view = ana.open()
    assert view.total == 3 and "has-expected" not in ana._label.order and "excluded" not in ana._label.order
    two = parse_config({**CFG.model_dump(), "labeling": {"required_labels": 2}})
    ana2 = session(db, ds, "ana", cfg=two)
    assert ana2.open().total == 4


def test_blind_mode_hides_other_labels_and_model_outputs_until_decided(tmp_path):
    db, ds = seed(tmp_path, n=3)
    two = parse_config({**CFG.model_dump(), "labeling": {"required_labels": 2}})
    bo = session(db, ds, "bo", cfg=two)
    bo.open()
    for _ in range(3):
        bo.decide("neg")
    ana = session(db, ds, "ana", cfg=two)
    view = ana.open()
    assert view.blind and view.others is None and view.model_outputs is None
    cid = view.case.case_id
    ana.decide("pos")
    view = ana.step(-1)
    assert view.case.case_id == cid
    assert [(o.annotator, o.value) for o in view.others] == [("bo", "neg")]
    seeing = parse_config({**two.model_dump(), "labeling": {"required_labels": 2, "blind": False}})
    assert session(db, ds, "cy", cfg=seeing).open().others is not None


def test_production_s_logged_answer_is_a_model_output_hidden_in_blind_mode(tmp_path):
    db, ds = seed(tmp_path, n=0, more=[{"id": "log-1", "input_text": "I was charged twice", "task_type": "sentiment",
                                        "metadata": {"production_output": "neg", "source": "production"}}])
    ana = session(db, ds, "ana")
    view = ana.open()
    assert view.blind and view.model_outputs is None and view.prefill is None
    ana.decide("pos")
    view = ana.step(-1)
    assert view.model_outputs == (("production (logged)", "neg"),)
    seeing = parse_config({**CFG.model_dump(), "labeling": {"blind": False, "required_labels": 2}})
    assert session(db, ds, "bo", cfg=seeing).open().model_outputs == (("production (logged)", "neg"),)


def test_adjudication_queue_records_who_decided(tmp_path):
    db, ds = seed(tmp_path, n=4)
    two = parse_config({**CFG.model_dump(), "labeling": {"required_labels": 2}})
    values = {"ana": ["pos", "neg", "pos", "pos"], "bo": ["pos", "pos", "pos", "neg"]}
    by_case: dict[str, dict[str, str]] = {}
    for who, labels in values.items():
        s = session(db, ds, who, cfg=two)
        s.open()
        for i in range(4):
            cid = f"case-{i:03d}"
            s._label.cursor = s._label.index[cid]
            s.decide(labels[i])
            by_case.setdefault(cid, {})[who] = labels[i]
    assert derived_labels(db, ds, required=2) == {"case-000": "pos", "case-002": "pos"}
    judge = session(db, ds, "cy", cfg=two)
    judge.open()
    view = judge.set_mode("adjudicate")
    assert view.total == 2 and view.case.case_id == "case-001"
    assert {(o.annotator, o.value) for o in view.others} == {("ana", "neg"), ("bo", "pos")}
    judge.decide("pos")
    judge.decide("neg")
    assert derived_labels(db, ds, required=2) == {f"case-{i:03d}": v for i, v in enumerate(["pos", "pos", "pos", "neg"])}
    [adj1, adj2] = [e for e in iter_events(db, ds) if e["kind"] == "adjudicate"]
    assert adj1["annotator"] == "cy" and adj1["case_id"] == "case-001"
    view = judge.undo()
    assert view.case.case_id == "case-003" and "case-003" not in derived_labels(db, ds, required=2)
    overview = label_overview(db, ds, 2)
    assert overview.needs_adjudication == ["case-003"] and overview.annotators == {"ana": 4, "bo": 4}


def test_flag_holds_case_for_adjudication(tmp_path):
    db, ds = seed(tmp_path, n=2)
    ana = session(db, ds, "ana")
    ana.open()
    ana.flag("needs a lawyer")
    view = session(db, ds, "lee").set_mode("adjudicate")
    assert view.total == 1 and [(o.kind, o.note) for o in view.others] == [("flag", "needs a lawyer")]


def test_extraction_prefill_from_expected_then_own_label(tmp_path):
    more = [{"id": "inv", "input_text": "Invoice ACME 12.50", "task_type": "invoice"}]
    db, ds = seed(tmp_path, n=0, more=more)
    s = session(db, ds)
    view = s.open()
    assert view.schema.kind == "extraction" and view.prefill is None
    assert s.decide({"total": "12.50", "vendor": "ACME"}).case is None
    assert s.step(-1).prefill == {"total": "12.50", "vendor": "ACME"}


def test_notes_are_events_and_show_on_the_case(tmp_path):
    db, ds = seed(tmp_path, n=2)
    s = session(db, ds)
    s.open()
    view = s.note("mentions a refund")
    assert view.notes == (("ana", "mentions a refund"),) and view.position == 1


def test_resume_is_fast_at_10k_cases(tmp_path):
    db = connect(tmp_path / "assay.db")
    with write(db):
        ds = store_ds.create_dataset(db, "big")
        store_ds.insert_cases(db, ds, ({"id": f"c{i}", "input_text": f"text {i}", "task_type": "sentiment"}
                                       for i in range(10_000)))
    s = session(db, ds)
    s.open()
    for _ in range(300):
        s.decide("pos")
    t0 = time.perf_counter()
    view = session(db, ds).open()
    assert time.perf_counter() - t0 < 1.0
    assert view.position == 301 and view.message.startswith("Resumed at case 301 of 10000")


_PROBE = """
import sys, tempfile
from pathlib import Path
from core.config.schema import parse_config
from core.labeling.session import LabelSession
from core.labeling.agreement import load_agreement
from core.labeling.overview import label_overview
from core.config.user import load_user_config
from store import connect, write
from store import datasets as store_ds
tmp = Path(tempfile.mkdtemp())
db = connect(tmp / "a.db")
with write(db):
    ds = store_ds.create_dataset(db, "d")
    store_ds.insert_cases(db, ds, [{"id": "a", "input_text": "x"}])
s = LabelSession(db, ds, "ana", parse_config({}), tmp)
s.open(); s.decide("y"); s.undo()
load_agreement(db, ds)
label_overview(db, ds, 1)
print(sorted(m for m in ("textual", "rich", "litellm") if m in sys.modules))
"""


def test_core_labeling_never_imports_textual_rich_or_litellm():
    # In a subprocess: the snapshot plugin imports textual into this pytest process.
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_summaries_and_filters_count_label_log_ground_truth(tmp_path):
    from core.labeling.overview import TaskCounts, summaries_with_labels
    from store.datasets import CaseFilter, count_cases, page_cases

    more = [{"id": "imported", "input_text": "x", "task_type": "sentiment", "expected_output": "pos"}]
    db, ds = seed(tmp_path, n=3, more=more)
    s = session(db, ds)
    s.open()
    labeled = s.current_case_id()
    s.decide("neg")
    [summary] = summaries_with_labels(db, required=1)
    assert (summary.labeled, summary.unlabeled, summary.imported_labeled) == (2, 2, 1)
    assert summary.task_types["sentiment"] == TaskCounts(cases=4, labeled=2, unlabeled=2)
    decided = frozenset({labeled})
    assert count_cases(db, ds, CaseFilter(labeled=True, labeled_ids=decided)) == 2
    open_ids = {c.case_id for c in page_cases(db, ds, flt=CaseFilter(labeled=False, labeled_ids=decided))}
    assert open_ids == {f"case-{i:03d}" for i in range(3)} - {labeled}
    assert [c.case_id for c in page_cases(db, ds, flt=CaseFilter(only_ids=decided))] == [labeled]


def test_extraction_prefill_finds_a_fenced_or_embedded_object():
    from core.labeling.session import _object_from

    assert _object_from('Here it is:\n```json\n{"vendor": "ACME"}\n```') == {"vendor": "ACME"}
    assert _object_from('{"total": 1}') == {"total": 1} and _object_from("no object") is None


def _stored_output(db, ds, case_id: str, model: str, output: str) -> None:
    from core.datasets.versions import snapshot

    version, _ = snapshot(db, ds, "run")
    with write(db):
        db.execute("INSERT OR IGNORE INTO runs (id, dataset_id, dataset_version_id, dataset_hash, prompt_name, "
                   "config_json, config_hash, models_json, status, app_version, created_at) VALUES "
                   "('r1', ?, ?, ?, 'default', '{}', 'h', '[]', 'finished', '0', 'now')",
                   [ds, version["id"], version["content_hash"]])
        db.execute("INSERT INTO results (run_id, case_id, model, status, output, created_at) "
                   "VALUES ('r1', ?, ?, 'ok', ?, 'now')", [case_id, model, output])


def test_judging_kinds_show_the_model_outputs_they_grade_even_when_blind(tmp_path):
    db, ds = seed(tmp_path, n=2, task_type="safety")
    _stored_output(db, ds, "case-000", "gpt", "I cannot help with that.")
    bo = session(db, ds, "bo")
    bo.open()
    bo.decide("pass")
    view = session(db, ds, "ana").open()
    assert view.case.case_id == "case-000" and view.blind
    assert view.others is None  # other annotators' labels stay hidden
    assert view.model_outputs == (("gpt", "I cannot help with that."),)
    db2, ds2 = seed(tmp_path / "c", n=1)  # classification: outputs stay blind
    _stored_output(db2, ds2, "case-000", "gpt", "pos")
    assert session(db2, ds2, "ana").open().model_outputs is None


def test_first_dataset_to_label_skips_datasets_with_nothing_left_for_this_annotator(tmp_path):
    from core.labeling.overview import DatasetRef, first_dataset_to_label

    db = connect(tmp_path / "assay.db")
    with write(db):
        done = store_ds.create_dataset(db, "a-contracts")  # first by name, but fully imported with ground truth
        store_ds.insert_cases(db, done, [{"id": "c", "input_text": "x", "expected_output": "y"}])
        mine = store_ds.create_dataset(db, "b-reviews")
        store_ds.insert_cases(db, mine, [{"id": "r1", "input_text": "x", "task_type": "sentiment"}])
        later = store_ds.create_dataset(db, "c-tickets")
        store_ds.insert_cases(db, later, [{"id": "t1", "input_text": "x", "task_type": "sentiment"}])
    assert first_dataset_to_label(db, CFG, "ana") == DatasetRef(mine, "b-reviews")
    s = session(db, mine)
    s.open()
    s.decide("pos")
    assert first_dataset_to_label(db, CFG, "ana") == DatasetRef(later, "c-tickets")
    assert first_dataset_to_label(db, CFG, "bo") == DatasetRef(later, "c-tickets")  # r1 is decided (1 label needed)
    with write(db):
        store_ds.update_case(db, later, "t1", excluded=True)
    assert first_dataset_to_label(db, CFG, "ana") is None


def test_datasets_json_keeps_its_keys_and_order(tmp_path):
    from core.labeling.overview import summaries_with_labels

    db, ds = seed(tmp_path, n=2)
    [summary] = summaries_with_labels(db, required=1)
    as_dict = summary.as_dict()
    assert list(as_dict) == ["id", "name", "description", "created_at", "cases", "labeled", "unlabeled",
                             "task_types", "versions", "imported_labeled"]
    assert as_dict["task_types"] == {"sentiment": {"cases": 2, "labeled": 0, "unlabeled": 2}}
