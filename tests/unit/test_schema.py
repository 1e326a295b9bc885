"""Pins the SQLite schema: columns, foreign keys and indexes. A change here needs a new migration."""

from __future__ import annotations

import sqlite3

from store import connect

EXPECTED_COLUMNS = {
    "datasets": ["id", "name", "description", "created_at"],
    "cases": ["pk", "dataset_id", "case_id", "input_text", "expected_json", "task_type", "difficulty",
              "metadata_json", "tags_json", "excluded", "ord", "created_at", "updated_at"],
    "case_blobs": ["hash", "data_json"],
    "dataset_versions": ["id", "dataset_id", "version", "content_hash", "n_cases", "n_labeled", "reason", "created_at"],
    "version_cases": ["version_id", "case_id", "ord", "blob_hash"],
    "label_events": ["id", "dataset_id", "case_id", "annotator", "kind", "value_json", "note", "undoes",
                     "guidelines_version", "time_on_case_ms", "created_at"],
    "prompts": ["id", "name", "content_hash", "system", "template", "per_task_json", "created_at"],
    "runs": ["id", "dataset_id", "dataset_version_id", "dataset_hash", "prompt_id", "prompt_name", "config_json",
             "config_hash", "models_json", "repeats", "status", "app_version", "litellm_version", "cost_source",
             "created_at", "finished_at", "owner", "loop_lag_p50_ms", "loop_lag_p95_ms", "loop_lag_max_ms", "startup_s"],
    "results": ["id", "run_id", "case_id", "model", "repeat", "status", "output", "finish_reason",
                "latency_first_ms", "latency_ms", "input_tokens", "output_tokens", "cost_usd", "cost_status",
                "cached", "attempts", "error_class", "error_message", "request_hash", "created_at",
                "provider_model", "system_fingerprint", "queue_ms", "client_ms"],
    "attempts": ["id", "run_id", "case_id", "model", "repeat", "attempt", "outcome", "error_class", "http_status",
                 "wait_s", "latency_ms", "created_at"],
    "scores": ["id", "result_id", "run_id", "round", "scorer", "status", "score", "passed", "details_json",
               "judge_model", "judge_prompt_hash", "judge_temperature", "judge_cost_usd", "created_at"],
    "response_cache": ["request_hash", "model", "response_json", "created_at"],
    "verdict_overrides": ["id", "result_id", "run_id", "passed", "replaces", "reason", "annotator", "created_at"],
    "webhook_deliveries": ["id", "webhook", "dedupe_key", "message_id", "status", "attempts", "http_status", "error",
                           "created_at", "updated_at"],
    "run_tags": ["run_id", "key", "value"],
    "run_aggregates": ["run_id", "dataset_id", "model", "task_type", "run_created_at", "dataset_version", "n", "scored",
                       "passed", "errors", "pass_rate", "pass_rate_low", "pass_rate_high", "pass_rate_incl_errors",
                       "mean_score", "field_accuracy_json", "latency_p50_ms", "latency_p95_ms", "cost_per_case",
                       "cost_per_correct", "cost_status", "model_id", "scorer_hash", "prompt_hash", "params_hash",
                       "provider_models_json", "fingerprints_json"],
    "run_aggregate_state": ["run_id", "status", "finished_at", "score_round", "override_id", "built_at"],
    "baselines": ["id", "dataset_id", "model", "run_id", "pinned_by", "pinned_at", "cleared_by", "cleared_at"],
    "regression_alerts": ["id", "dataset_id", "model", "baseline_model", "task_type", "baseline_run_id",
                          "candidate_run_id", "delta", "ci_low", "ci_high", "p_value", "q_value", "n_matched", "why",
                          "created_at", "acknowledged_at", "acknowledged_by"],
    "probe_runs": ["id", "kind", "dataset_id", "dataset_version_id", "dataset_hash", "models_json", "config_json",
                   "status", "app_version", "created_at", "finished_at"],
    "probe_results": ["id", "probe_run_id", "case_id", "model", "probe", "status", "output", "target_tokens",
                      "longest_run", "longest_run_ratio", "ngram_precision", "exact_match", "latency_ms",
                      "input_tokens", "output_tokens", "cost_usd", "cost_status", "error_class", "error_message",
                      "created_at"],
}

EXPECTED_FOREIGN_KEYS = {
    ("cases", "dataset_id", "datasets", "id"),
    ("dataset_versions", "dataset_id", "datasets", "id"),
    ("version_cases", "version_id", "dataset_versions", "id"),
    ("version_cases", "blob_hash", "case_blobs", "hash"),
    ("label_events", "dataset_id", "datasets", "id"),
    ("label_events", "undoes", "label_events", "id"),
    ("runs", "dataset_id", "datasets", "id"),
    ("runs", "dataset_version_id", "dataset_versions", "id"),
    ("runs", "prompt_id", "prompts", "id"),
    ("results", "run_id", "runs", "id"),
    ("attempts", "run_id", "runs", "id"),
    ("scores", "result_id", "results", "id"),
    ("scores", "run_id", "runs", "id"),
    ("verdict_overrides", "result_id", "results", "id"),
    ("verdict_overrides", "run_id", "runs", "id"),
    ("baselines", "dataset_id", "datasets", "id"),
    ("baselines", "run_id", "runs", "id"),
    ("regression_alerts", "dataset_id", "datasets", "id"),
    ("regression_alerts", "baseline_run_id", "runs", "id"),
    ("regression_alerts", "candidate_run_id", "runs", "id"),
    ("run_tags", "run_id", "runs", "id"),
    ("run_aggregates", "run_id", "runs", "id"),
    ("run_aggregates", "dataset_id", "datasets", "id"),
    ("run_aggregate_state", "run_id", "runs", "id"),
    ("probe_runs", "dataset_id", "datasets", "id"),
    ("probe_runs", "dataset_version_id", "dataset_versions", "id"),
    ("probe_results", "probe_run_id", "probe_runs", "id"),
}

EXPECTED_INDEXES = {
    "idx_cases_dataset_ord": ("cases", ["dataset_id", "ord"], False),
    "idx_cases_dataset_task": ("cases", ["dataset_id", "task_type"], False),
    "idx_version_cases_ord": ("version_cases", ["version_id", "ord"], False),
    "idx_label_events_case": ("label_events", ["dataset_id", "case_id"], False),
    "idx_label_events_annotator": ("label_events", ["dataset_id", "annotator"], False),
    "idx_runs_dataset": ("runs", ["dataset_id", "created_at"], False),
    "idx_results_run_model": ("results", ["run_id", "model"], False),
    "idx_attempts_run": ("attempts", ["run_id", "case_id", "model", "repeat"], False),
    "idx_scores_run_round": ("scores", ["run_id", "round"], False),
    "idx_scores_result": ("scores", ["result_id"], False),
    "idx_verdict_overrides_run": ("verdict_overrides", ["run_id", "result_id"], False),
    "idx_run_aggregates_series": ("run_aggregates", ["dataset_id", "model", "task_type", "run_created_at"], False),
    "idx_regression_alerts_open": ("regression_alerts", ["acknowledged_at", "created_at"], False),
    "idx_probe_runs_dataset": ("probe_runs", ["dataset_id", "created_at"], False),
}

EXPECTED_UNIQUE = {
    "datasets": [["name"]],
    "cases": [["dataset_id", "case_id"]],
    "dataset_versions": [["dataset_id", "version"], ["dataset_id", "content_hash"]],
    "results": [["run_id", "case_id", "model", "repeat"]],
    "prompts": [["content_hash"]],
    "webhook_deliveries": [["webhook", "dedupe_key"]],
    "regression_alerts": [["candidate_run_id", "baseline_run_id", "model", "task_type"]],
    "probe_results": [["probe_run_id", "case_id", "model", "probe"]],
}


def _conn(tmp_path) -> sqlite3.Connection:
    connect(tmp_path / "assay.db").close()
    return sqlite3.connect(tmp_path / "assay.db")


def test_columns_are_pinned(tmp_path):
    conn = _conn(tmp_path)
    for table, cols in EXPECTED_COLUMNS.items():
        got = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        assert got[: len(cols)] == cols, table


def test_foreign_keys_are_pinned(tmp_path):
    conn = _conn(tmp_path)
    got = set()
    for table in EXPECTED_COLUMNS:
        for r in conn.execute(f"PRAGMA foreign_key_list({table})"):
            got.add((table, r[3], r[2], r[4]))
    assert EXPECTED_FOREIGN_KEYS <= got


def test_indexes_are_pinned(tmp_path):
    conn = _conn(tmp_path)
    for name, (table, cols, unique) in EXPECTED_INDEXES.items():
        rows = {r[1]: r for r in conn.execute(f"PRAGMA index_list({table})")}
        assert name in rows, name
        assert bool(rows[name][2]) == unique
        assert [r[2] for r in conn.execute(f"PRAGMA index_info({name})")] == cols


def test_unique_constraints_are_pinned(tmp_path):
    conn = _conn(tmp_path)
    for table, expected in EXPECTED_UNIQUE.items():
        uniques = []
        for r in conn.execute(f"PRAGMA index_list({table})"):
            if r[2]:
                uniques.append([c[2] for c in conn.execute(f"PRAGMA index_info('{r[1]}')")])
        for cols in expected:
            assert cols in uniques, (table, cols)


def test_migrations_recorded_once(tmp_path):
    connect(tmp_path / "assay.db").close()
    db = connect(tmp_path / "assay.db")
    names = [r[0] for r in db.execute("SELECT name FROM _sqlite_migrations WHERE migration_set = 'assay'")]
    assert names == ["m001_initial", "m002_run_owner", "m003_verdict_overrides",
                     "m004_webhook_deliveries", "m005_trends", "m006_baselines_and_alerts",
                     "m007_contamination_probes", "m008_client_queueing", "m009_run_startup",
                     "m010_client_time"]
    assert len(names) == len(set(names))
