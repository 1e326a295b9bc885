"""The domain's data shapes (pydantic v2). Everything that crosses a module boundary is one of these."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Difficulty = Literal["easy", "medium", "hard"]
ExpectedOutput = str | dict[str, Any] | None
ResultStatus = Literal["ok", "error", "skipped"]
ErrorClass = Literal[
    "rate_limited", "quota_exhausted", "auth", "not_found", "bad_request", "timeout",
    "network", "unreachable", "server", "bad_response", "cancelled", "not_logged", "unknown",
]
CostStatus = Literal["price_map", "config", "unknown", "cached", "logged"]
LabelKind = Literal["label", "skip", "flag", "undo", "adjudicate", "note"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class EvalCase(_Model):
    """One evaluation case. `expected_output` None means the case still needs a label."""

    id: str = Field(min_length=1)
    input_text: str = Field(min_length=1)
    expected_output: ExpectedOutput = None
    task_type: str = Field(default="generation", min_length=1)
    difficulty: Difficulty | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    excluded: bool = False

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("expected_output", mode="before")
    @classmethod
    def _expected_shape(cls, v: Any) -> Any:
        # Numbers keep their text (a GSM8K answer of 42 is the label "42"); lists and
        # booleans are ambiguous as ground truth and rejected with one clear message.
        if isinstance(v, bool) or not isinstance(v, (str, dict, int, float, type(None))):
            raise ValueError(f"must be a string or a JSON object, not {type(v).__name__}")
        if isinstance(v, (int, float)):
            return str(v)
        return v

    @field_validator("input_text")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v

    @property
    def labeled(self) -> bool:
        return self.expected_output is not None


class Dataset(_Model):
    id: int
    name: str
    description: str = ""
    created_at: str


class DatasetVersion(_Model):
    id: int
    dataset_id: int
    version: int
    content_hash: str
    n_cases: int
    n_labeled: int
    reason: str
    created_at: str


class LabelEvent(_Model):
    """Append-only: the current ground truth is derived from the event log, never edited in place."""

    id: int | None = None
    dataset_id: int
    case_id: str
    annotator: str
    kind: LabelKind
    value: Any = None
    note: str | None = None
    undoes: int | None = None
    guidelines_version: str | None = None
    time_on_case_ms: int | None = None
    created_at: str | None = None


class RunRecord(_Model):
    id: str
    dataset_id: int
    dataset_version_id: int
    dataset_hash: str
    prompt_id: int | None = None
    prompt_name: str
    config: dict[str, Any]
    config_hash: str
    models: list[str]
    repeats: int = 1
    status: Literal["running", "finished", "interrupted", "failed"] = "running"
    app_version: str
    litellm_version: str | None = None
    cost_source: str | None = None
    created_at: str | None = None  # set by the store when the row is written
    finished_at: str | None = None
    owner: str | None = None  # "host:pid" of the process running it


class ResultRecord(_Model):
    """The one terminal row per (run, case, model, repeat)."""

    run_id: str
    case_id: str
    model: str
    repeat: int = 0
    status: ResultStatus
    output: str | None = None
    finish_reason: str | None = None
    latency_first_ms: float | None = None
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None  # None = unknown, never 0
    cost_status: CostStatus = "unknown"
    cached: bool = False
    attempts: int = 0
    error_class: ErrorClass | None = None
    error_message: str | None = None
    request_hash: str | None = None
    provider_model: str | None = None  # the model string the provider returned (None: it sent none)
    system_fingerprint: str | None = None
    queue_ms: float | None = None  # the last attempt's wait for the client before its request; not latency
    client_ms: float | None = None  # its part after slots and limiter (None: latency not kernel-timed)


class ScoreRecord(_Model):
    """A scorer's verdict on one result. Append-only; re-scoring adds rows with a new round."""

    result_id: int
    run_id: str
    scorer: str
    status: Literal["ok", "error"] = "ok"
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    passed: bool | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    round: int = 1
    judge_model: str | None = None
    judge_prompt_hash: str | None = None
    judge_temperature: float | None = None
    judge_cost_usd: float | None = None


def describe_validation_error(exc: Exception) -> str:
    """A one-line message naming each bad field and the offending value."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return str(exc)
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "record"
        value = err.get("input")
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        if err["type"] == "value_error":
            parts.append(f"field '{field}': {err['msg'].removeprefix('Value error, ')} (got {shown})")
        elif err["type"] == "missing":
            parts.append(f"missing required field '{field}'")
        else:
            parts.append(f"field '{field}': {err['msg'].lower()} (got {shown})")
    return "; ".join(parts)
