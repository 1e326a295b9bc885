"""Schema migrations (sqlite-utils `Migrations`). Never edit an applied migration: add a new one.

The schema is documented table by table in docs/schema.md and pinned by tests/unit/test_schema.py.
Two processes starting at once are safe: `migrate()` takes the write lock (BEGIN IMMEDIATE) and
only then reads what is pending, so the second process finds nothing left to do.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

from store.db import write

migrations = Migrations("assay")


def _run_script(db: sqlite_utils.Database, script: str) -> None:
    # Not executescript(): it COMMITs the open transaction first, which would break the
    # all-or-nothing migration under BEGIN IMMEDIATE.
    for statement in script.split(";\n"):
        if statement.strip():
            db.conn.execute(statement)


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    _run_script(
        db,
        """
        CREATE TABLE datasets (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        );
        -- Current state of each case. expected_json is the JSON encoding of the imported/edited
        -- expected output (NULL = unlabeled); labels from experts live in label_events.
        CREATE TABLE cases (
            pk INTEGER PRIMARY KEY,
            dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            case_id TEXT NOT NULL,
            input_text TEXT NOT NULL,
            expected_json TEXT,
            task_type TEXT NOT NULL DEFAULT 'generation',
            difficulty TEXT,
            metadata_json TEXT NOT NULL DEFAULT '{}',
            tags_json TEXT NOT NULL DEFAULT '[]',
            excluded INTEGER NOT NULL DEFAULT 0,
            ord INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (dataset_id, case_id)
        );
        CREATE INDEX idx_cases_dataset_ord ON cases(dataset_id, ord);
        CREATE INDEX idx_cases_dataset_task ON cases(dataset_id, task_type);
        -- Content-addressed case snapshots shared by every version that holds them.
        CREATE TABLE case_blobs (
            hash TEXT PRIMARY KEY,
            data_json TEXT NOT NULL
        );
        -- Immutable snapshots; identical content reuses the same version.
        CREATE TABLE dataset_versions (
            id INTEGER PRIMARY KEY,
            dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            version INTEGER NOT NULL,
            content_hash TEXT NOT NULL,
            n_cases INTEGER NOT NULL,
            n_labeled INTEGER NOT NULL,
            reason TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (dataset_id, version),
            UNIQUE (dataset_id, content_hash)
        );
        CREATE TABLE version_cases (
            version_id INTEGER NOT NULL REFERENCES dataset_versions(id) ON DELETE CASCADE,
            case_id TEXT NOT NULL,
            ord INTEGER NOT NULL,
            blob_hash TEXT NOT NULL REFERENCES case_blobs(hash),
            PRIMARY KEY (version_id, case_id)
        );
        CREATE INDEX idx_version_cases_ord ON version_cases(version_id, ord);
        -- Append-only; current labels are derived (undo events cancel earlier events).
        CREATE TABLE label_events (
            id INTEGER PRIMARY KEY,
            dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            case_id TEXT NOT NULL,
            annotator TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('label','skip','flag','undo','adjudicate','note')),
            value_json TEXT,
            note TEXT,
            undoes INTEGER REFERENCES label_events(id),
            guidelines_version TEXT,
            time_on_case_ms INTEGER,
            created_at TEXT NOT NULL
        );
        CREATE INDEX idx_label_events_case ON label_events(dataset_id, case_id);
        CREATE INDEX idx_label_events_annotator ON label_events(dataset_id, annotator);
        CREATE TABLE prompts (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            content_hash TEXT NOT NULL UNIQUE,
            system TEXT,
            template TEXT NOT NULL,
            per_task_json TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL
        );
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            dataset_id INTEGER NOT NULL REFERENCES datasets(id),
            dataset_version_id INTEGER NOT NULL REFERENCES dataset_versions(id),
            dataset_hash TEXT NOT NULL,
            prompt_id INTEGER REFERENCES prompts(id),
            prompt_name TEXT NOT NULL,
            config_json TEXT NOT NULL,
            config_hash TEXT NOT NULL,
            models_json TEXT NOT NULL,
            repeats INTEGER NOT NULL DEFAULT 1,
            status TEXT NOT NULL CHECK (status IN ('running','finished','interrupted','failed')),
            app_version TEXT NOT NULL,
            litellm_version TEXT,
            cost_source TEXT,
            created_at TEXT NOT NULL,
            finished_at TEXT
        );
        CREATE INDEX idx_runs_dataset ON runs(dataset_id, created_at);
        -- Exactly one terminal row per (run, case, model, repeat), written as results arrive.
        CREATE TABLE results (
            id INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            case_id TEXT NOT NULL,
            model TEXT NOT NULL,
            repeat INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL CHECK (status IN ('ok','error','skipped')),
            output TEXT,
            finish_reason TEXT,
            latency_first_ms REAL,
            latency_ms REAL,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cost_usd REAL,
            cost_status TEXT NOT NULL DEFAULT 'unknown',
            cached INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            error_class TEXT,
            error_message TEXT,
            request_hash TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (run_id, case_id, model, repeat)
        );
        CREATE INDEX idx_results_run_model ON results(run_id, model);
        -- Every attempt of every call, for retry/backoff forensics.
        CREATE TABLE attempts (
            id INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            case_id TEXT NOT NULL,
            model TEXT NOT NULL,
            repeat INTEGER NOT NULL DEFAULT 0,
            attempt INTEGER NOT NULL,
            outcome TEXT NOT NULL,
            error_class TEXT,
            http_status INTEGER,
            wait_s REAL,
            latency_ms REAL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX idx_attempts_run ON attempts(run_id, case_id, model, repeat);
        -- Append-only verdicts; `round` grows with each re-score of a run.
        CREATE TABLE scores (
            id INTEGER PRIMARY KEY,
            result_id INTEGER NOT NULL REFERENCES results(id) ON DELETE CASCADE,
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            round INTEGER NOT NULL DEFAULT 1,
            scorer TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('ok','error')),
            score REAL,
            passed INTEGER,
            details_json TEXT NOT NULL DEFAULT '{}',
            judge_model TEXT,
            judge_prompt_hash TEXT,
            judge_temperature REAL,
            judge_cost_usd REAL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX idx_scores_run_round ON scores(run_id, round);
        CREATE INDEX idx_scores_result ON scores(result_id);
        -- Successful responses only (errors are never cached), keyed on the whole request.
        CREATE TABLE response_cache (
            request_hash TEXT PRIMARY KEY,
            model TEXT NOT NULL,
            response_json TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        """
    )


@migrations()
def m002_run_owner(db: sqlite_utils.Database) -> None:
    # "host:pid" of the process executing the run, so a run whose process died (kill -9, power
    # loss) shows as stale instead of running forever, and two processes never resume one run.
    db.conn.execute("ALTER TABLE runs ADD COLUMN owner TEXT")


@migrations()
def m003_verdict_overrides(db: sqlite_utils.Database) -> None:
    # Human verdicts that replace a result's scored verdict (Review screen). Append-only: the
    # latest row per result is in force; `replaces` is the verdict it replaced when written.
    _run_script(
        db,
        """
        CREATE TABLE verdict_overrides (
            id INTEGER PRIMARY KEY,
            result_id INTEGER NOT NULL REFERENCES results(id) ON DELETE CASCADE,
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            passed INTEGER NOT NULL CHECK (passed IN (0, 1)),
            replaces TEXT NOT NULL,
            reason TEXT NOT NULL CHECK (length(trim(reason)) > 0),
            annotator TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX idx_verdict_overrides_run ON verdict_overrides(run_id, result_id)
        """,
    )


@migrations()
def m004_webhook_deliveries(db: sqlite_utils.Database) -> None:
    # One row per (webhook, alert): the dedupe that makes an alert one message. A row is claimed
    # as 'sending' before the request goes out (so two processes never both send), then becomes
    # 'delivered' or 'failed'; a failed one may be claimed again by a later send. Never holds the
    # URL (a secret): `error` names only the host.
    _run_script(
        db,
        """
        CREATE TABLE webhook_deliveries (
            id INTEGER PRIMARY KEY,
            webhook TEXT NOT NULL,
            dedupe_key TEXT NOT NULL,
            message_id TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('sending', 'delivered', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            http_status INTEGER,
            error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (webhook, dedupe_key)
        )
        """,
    )


@migrations()
def m005_trends(db: sqlite_utils.Database) -> None:
    # Trend history (issue 10): the provider's own model string and system_fingerprint per result
    # (a change between runs breaks a series), tags on runs (`assay run --tag KEY=VALUE`), and the
    # per-run aggregates every trend query reads instead of the results.
    _run_script(
        db,
        """
        ALTER TABLE results ADD COLUMN provider_model TEXT;
        ALTER TABLE results ADD COLUMN system_fingerprint TEXT;
        CREATE TABLE run_tags (
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (run_id, key)
        );
        -- Derived from core.report.build (never a second computation); rebuilt at will.
        -- task_type '(all)' is every task type together. Series key: dataset_id x model x task_type.
        CREATE TABLE run_aggregates (
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            task_type TEXT NOT NULL,
            run_created_at TEXT NOT NULL,
            dataset_version INTEGER NOT NULL,
            n INTEGER NOT NULL,
            scored INTEGER NOT NULL,
            passed INTEGER NOT NULL,
            errors INTEGER NOT NULL,
            pass_rate REAL,
            pass_rate_low REAL,
            pass_rate_high REAL,
            pass_rate_incl_errors REAL,
            mean_score REAL,
            field_accuracy_json TEXT NOT NULL DEFAULT '{}',
            latency_p50_ms REAL,
            latency_p95_ms REAL,
            cost_per_case REAL,
            cost_per_correct REAL,
            cost_status TEXT NOT NULL,
            model_id TEXT,
            scorer_hash TEXT NOT NULL,
            prompt_hash TEXT NOT NULL,
            params_hash TEXT NOT NULL,
            provider_models_json TEXT NOT NULL DEFAULT '[]',
            fingerprints_json TEXT NOT NULL DEFAULT '[]',
            PRIMARY KEY (run_id, model, task_type)
        );
        CREATE INDEX idx_run_aggregates_series ON run_aggregates(dataset_id, model, task_type, run_created_at);
        -- What each run's aggregates were built from: when the run's status, finished_at, latest
        -- score round or latest override differs, they are stale and rebuilt.
        CREATE TABLE run_aggregate_state (
            run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
            status TEXT NOT NULL,
            finished_at TEXT,
            score_round INTEGER,
            override_id INTEGER,
            built_at TEXT NOT NULL
        )
        """,
    )


@migrations()
def m006_baselines_and_alerts(db: sqlite_utils.Database) -> None:
    # baselines: the approved run per dataset lineage (model NULL: every model of the run), pinned
    # only by an explicit command. History is kept: pinning again or clearing stamps `cleared_at`
    # on the row in force instead of deleting it; at most one row in force per (dataset, model).
    # regression_alerts: one row per alert-level series of a candidate run against a baseline
    # (append-only; acknowledging stamps acknowledged_at/by once). Deltas are fractions (-0.1 =
    # 10 points worse); the CI is that of the pass-rate difference.
    _run_script(
        db,
        """
        CREATE TABLE baselines (
            id INTEGER PRIMARY KEY,
            dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            model TEXT,
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            pinned_by TEXT NOT NULL,
            pinned_at TEXT NOT NULL,
            cleared_by TEXT,
            cleared_at TEXT
        );
        CREATE UNIQUE INDEX idx_baselines_in_force ON baselines(dataset_id, IFNULL(model, '')) WHERE cleared_at IS NULL;
        CREATE TABLE regression_alerts (
            id INTEGER PRIMARY KEY,
            dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            baseline_model TEXT NOT NULL,
            task_type TEXT NOT NULL,
            baseline_run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            candidate_run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            delta REAL NOT NULL,
            ci_low REAL,
            ci_high REAL,
            p_value REAL NOT NULL,
            q_value REAL NOT NULL,
            n_matched INTEGER NOT NULL,
            why TEXT NOT NULL,
            created_at TEXT NOT NULL,
            acknowledged_at TEXT,
            acknowledged_by TEXT,
            UNIQUE (candidate_run_id, baseline_run_id, model, task_type)
        );
        CREATE INDEX idx_regression_alerts_open ON regression_alerts(acknowledged_at, created_at)
        """,
    )


@migrations()
def m007_contamination_probes(db: sqlite_utils.Database) -> None:
    # Contamination probes (issue 11, `assay probe contamination`): a run of their own kind, in their
    # own tables rather than a `kind` column on `runs`, because every reader of runs/results (reports,
    # Review, trend aggregates, baselines, compare, alerts, resume) expects scored results; separate
    # tables keep those correct by construction. One terminal row per (probe run, case, model, probe):
    # `probe` is 'continue' (the case's input prefix), 'control' (the same words shuffled) or
    # 'expected' (asked for the expected output without the input). Overlap figures are fractions.
    _run_script(
        db,
        """
        CREATE TABLE probe_runs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('contamination')),
            dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            dataset_version_id INTEGER NOT NULL REFERENCES dataset_versions(id),
            dataset_hash TEXT NOT NULL,
            models_json TEXT NOT NULL,
            config_json TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('running','finished','interrupted','failed')),
            app_version TEXT NOT NULL,
            created_at TEXT NOT NULL,
            finished_at TEXT
        );
        CREATE INDEX idx_probe_runs_dataset ON probe_runs(dataset_id, created_at);
        CREATE TABLE probe_results (
            id INTEGER PRIMARY KEY,
            probe_run_id TEXT NOT NULL REFERENCES probe_runs(id) ON DELETE CASCADE,
            case_id TEXT NOT NULL,
            model TEXT NOT NULL,
            probe TEXT NOT NULL CHECK (probe IN ('continue','control','expected')),
            status TEXT NOT NULL CHECK (status IN ('ok','error','skipped')),
            output TEXT,
            target_tokens INTEGER,
            longest_run INTEGER,
            longest_run_ratio REAL,
            ngram_precision REAL,
            exact_match INTEGER,
            latency_ms REAL,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cost_usd REAL,
            cost_status TEXT NOT NULL DEFAULT 'unknown',
            error_class TEXT,
            error_message TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (probe_run_id, case_id, model, probe)
        )
        """,
    )

@migrations()
def m008_client_queueing(db: sqlite_utils.Database) -> None:
    # Honest latency (issue 12): how long each call waited for the client before its request
    # started (concurrency slots, rate limiter), apart from latency_ms, and the run's event-loop
    # lag (a CPU-saturated client inflates every latency it times). NULL: not measured (older
    # runs, cached or unsent calls).
    _run_script(
        db,
        """
        ALTER TABLE results ADD COLUMN queue_ms REAL;
        ALTER TABLE runs ADD COLUMN loop_lag_p50_ms REAL;
        ALTER TABLE runs ADD COLUMN loop_lag_p95_ms REAL;
        ALTER TABLE runs ADD COLUMN loop_lag_max_ms REAL
        """,
    )


@migrations()
def m009_run_startup(db: sqlite_utils.Database) -> None:
    # What a run paid before its calls could go (worker processes importing litellm, or this
    # process's own import): the Run screen's estimate adds the newest such figure. NULL: the run
    # paid none (litellm already imported), was stopped first, or predates it.
    _run_script(db, "ALTER TABLE runs ADD COLUMN startup_s REAL")


@migrations()
def m010_client_time(db: sqlite_utils.Database) -> None:
    # The part of queue_ms that was the client's own work and wait (litellm, a busy event loop or
    # worker process) after the slots and the limiter, up to the request's last byte: what a
    # CPU-saturated client adds. Set only when the kernel timed the request, so it also tells which
    # latencies exclude that wait. NULL: older rows, cached or unsent calls, or loop-timed latency.
    _run_script(db, "ALTER TABLE results ADD COLUMN client_ms REAL")


def migrate(db: sqlite_utils.Database) -> None:
    """Apply pending migrations; safe when several processes start at once."""
    if not migrations.pending(db):
        return
    with write(db):
        # Re-read under the lock: another process may have applied them meanwhile.
        migrations.apply(db)
