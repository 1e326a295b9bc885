"""The workspace: a folder with assay.toml and assay.db (or a database named by --db / ASSAY_DB).

Both front ends resolve it here, load its config and open its database through it. Imports of
pydantic and sqlite-utils wait until they are needed, so `assay --help` stays fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils

    from core.config.schema import WorkspaceConfig

# "## " lines explain; "# " lines are examples: remove the "# " to use one. The file is valid as
# written and stays valid with every example uncommented (tests/unit/test_config_run.py).
STARTER_TOML = '''## Assay workspace configuration. README.md ("Configuration") documents every key.
## Lines starting with "# " are examples: delete the "# " to use them.
## Secrets never go in this file: `api_key_env` holds the NAME of an environment variable.

## --- Run defaults: the conditions every model of a run shares ---------------------------------
[run]
# prompt = "default"        ## [prompts.NAME] to use; "default" = the case's input_text as the user message
# concurrency = 8           ## calls in flight at once, all models together (--concurrency)
# workers = "auto"          ## processes sending the requests (--workers), limits held across them;
##                             auto: one per core for a run of >= 250 calls at concurrency >= 64
##                             (>= 4,000 in the app once it imported litellm) whose models can
##                             answer > 500 calls/s (p50 of an earlier run), else 1
# repeat = 1                ## calls per (case, model), e.g. 5 to measure variance (--repeat)
# retries = 4               ## retries of transient errors (429, 5xx, timeouts, network, bad responses)
# retry_after_cap_s = 60    ## longest Retry-After honoured; above it Assay waits this long, then retries
# backoff_base_s = 0.5      ## exponential backoff with full jitter: random(0, min(max, base * 2^attempt))
# backoff_max_s = 30
# breaker_threshold = 3     ## auth/quota errors (none succeeding between) before a model's calls are skipped
# timeout_s = 60            ## hard limit per attempt
# max_error_rate = 0.0      ## share of infrastructure errors tolerated before `assay run` exits 3
# cache = true              ## reuse responses to identical requests (--no-cache to bypass)
# stream = false            ## stream responses (--stream): the only way time to first token
##                             (latency_first_ms) is measured; a run condition, like the params below
## Sampling params shared by every model (identical conditions). A model may set its own only
## when the param is listed in allow_overrides; the override is recorded in the run.
# temperature = 0.0
# max_tokens = 1024
# top_p = 1.0
# seed = 42
# allow_overrides = ["max_tokens", "stream"]

## --- Models: one [models.NAME] per candidate; NAME is what --models takes -----------------------
## Local demo models: start `assay serve` in another terminal, then
##   assay run --dataset NAME --models demo-strong,demo-fast
## (a model with an api_base and no api_key_env is sent the placeholder key "assay-no-key").
[models.demo-strong]
model = "openai/demo-strong"
api_base = "http://127.0.0.1:8765/v1"

[models.demo-fast]
model = "openai/demo-fast"
api_base = "http://127.0.0.1:8765/v1"

# [models.gpt]
# model = "openai/gpt-4o-mini"        ## litellm model id (provider/model)
# api_key_env = "OPENAI_API_KEY"      ## NAME of the environment variable holding the key
# api_base = "https://api.openai.com/v1"  ## optional: proxies, Azure, local servers
# max_tokens = 2048                   ## own sampling params (temperature, max_tokens, top_p, seed)
##                                       and stream are allowed only when run.allow_overrides lists them
# stream = true                       ## this model streams although [run] does not (recorded in the run)
# params = { frequency_penalty = 0.0 }  ## extra litellm params, passed as is
# timeout_s = 120                     ## per-attempt timeout for this model (default: [run])
# max_concurrency = 4                 ## this model's own limit on calls in flight
# rpm = 500                           ## requests per minute: Assay paces itself and waits, never bursts
# tpm = 200000                        ## tokens per minute (estimated prompt + max_tokens, then actual)
# input_price_per_1m = 0.15           ## USD per 1M input tokens; set both prices or neither.
# output_price_per_1m = 0.60          ## Without them litellm's price map is used; unknown cost stays n/a

## What production answered, as a model (no call): each case's metadata.production_output, which
## `assay sample` keeps from the logs; scored beside the candidates against the experts' truth.
# [models.production]
# model = "logged"                    ## or "logged/KEY" for another metadata key

## --- Prompts: system message + user template ------------------------------------------------
## Placeholders: {input_text} {id} {task_type} {difficulty} {metadata.KEY}; {{ }} for literal braces.
# [prompts.support]
# system = "You are a support agent for ACME. Answer in one short paragraph."
# template = "Customer ({metadata.tier}): {input_text}"
# conversation = false      ## true: send an imported conversation (chat, inspect-ai, OpenAI-evals
##                             records keep the turns before the input) before the user message
## Per task type variants; a key left out keeps the prompt's own value.
# [prompts.support.tasks.classification]
# system = "Reply with exactly one label: billing, bug or other."

## --- Task types: how cases of a task type are labeled -----------------------------------------
# [tasks.classification]
# kind = "classification"   ## classification | extraction | free_text | pass_fail | rating
# labels = ["billing", "bug", "other"]
# hints = { billing = "payments, invoices, refunds" }
# keys = { billing = "b", bug = "g", other = "o" }  ## one key per label (default 1-9)
# guidelines = "Pick the customer's main problem."
# [tasks.extraction]
# kind = "extraction"
# fields = ["name", "date", "amount"]
# guidelines_file = "guidelines/extraction.md"

## --- Scorers: how each task type is scored (README "Scoring") -------------------------------
# [scorers.extraction]
# type = "extraction"

## --- LLM judge for rubric scorers ------------------------------------------------------------
# [judge]
# model = "demo-strong"     ## a [models.NAME]
# temperature = 0.0
# max_tokens = 512
# min_graded = 30           ## fewer expert-graded outputs: the judge is uncalibrated (assay judge-check)
# min_kappa = 0.6           ## Cohen's kappa with the experts below this: uncalibrated
# pass_rating = 4           ## an expert rating (1-5) at or above this grades an output pass

## --- Labeling -----------------------------------------------------------------------------
# [labeling]
# blind = true              ## hide the imported expected output while labeling
# required_labels = 1       ## annotators who must agree before a label is ground truth
# guidelines = "Label what the customer needs, not what they say first."
# guidelines_file = "guidelines/labeling.md"   ## or keep longer guidelines in a file

## --- Alerts: when a drop against the baseline alerts, and where alerts are sent ---------------
# [alerts]
# threshold_points = 3.0    ## smallest drop (percentage points) that can alert
# q = 0.05                  ## false discovery rate across the series checked (Benjamini-Hochberg)
# min_matched = 30          ## fewer matched cases than this is "insufficient data"
## One [alerts.webhooks.NAME] per destination. The URL is a secret: name its environment variable.
# [alerts.webhooks.team-slack]
# kind = "slack"            ## slack (incoming webhook) | json (the documented payload)
# url_env = "ASSAY_SLACK_WEBHOOK_URL"
# timeout_s = 10            ## per attempt; 3 attempts on 5xx, 429, timeouts and connection errors
# [alerts.webhooks.ci]
# kind = "json"
# url_env = "ASSAY_ALERT_WEBHOOK_URL"
# secret_env = "ASSAY_ALERT_WEBHOOK_SECRET"  ## signs each request (Standard Webhooks headers)
'''


@dataclass
class Workspace:
    root: Path
    db_path: Path
    debug: bool = False  # show tracebacks (the CLI's --debug)
    _db: sqlite_utils.Database | None = field(default=None, repr=False)

    @property
    def config_path(self) -> Path:
        return self.root / "assay.toml"

    def load_config(self) -> WorkspaceConfig:
        """assay.toml, validated; a missing file means every default."""
        from core.config.schema import load_config

        return load_config(self.config_path)

    def connect(self, *, migrate: bool = True) -> sqlite_utils.Database:
        """A new connection for the calling thread (sqlite3 refuses to share one between threads:
        each TUI worker opens its own). `migrate=False` once the database is known to be current."""
        from store import connect

        return connect(self.db_path, migrate=migrate)

    def db(self) -> sqlite_utils.Database:
        """The workspace database, opened (and migrated) once, for the thread that first asks."""
        if self._db is None:
            self._db = self.connect()
        return self._db

    def init(self) -> list[str]:
        """Create what is missing; never overwrite. Returns human-readable lines of what happened."""
        out = []
        self.root.mkdir(parents=True, exist_ok=True)
        if self.config_path.exists():
            out.append(f"kept existing {self.config_path}")
        else:
            self.config_path.write_text(STARTER_TOML, encoding="utf-8")
            out.append(f"wrote {self.config_path}")
        existed = self.db_path.exists()
        self.connect().close()
        out.append(f"{'opened' if existed else 'created'} {self.db_path}")
        return out


def resolve(workspace: str | None, db: str | None, debug: bool = False) -> Workspace:
    """The workspace folder (default: the current one) and its database: `db`, else $ASSAY_DB,
    else assay.db in the folder."""
    root = Path(workspace or os.getcwd()).resolve()
    db_path = db or os.environ.get("ASSAY_DB") or str(root / "assay.db")
    return Workspace(root=root, db_path=Path(db_path).expanduser().resolve(), debug=debug)
