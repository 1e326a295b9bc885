"""Workspace configuration: `assay.toml`, read with tomllib and validated with pydantic; edited
only through core.config.writer, which keeps the user's comments.

Every key is documented in README.md ("Configuration") and in the starter file `assay init`
writes (core/workspace.py). Errors name the file and the dotted key.
Secrets never live here: `api_key_env` holds the *name* of an environment variable.

Identical conditions: the sampling params in SHARED_PARAMS and `stream` come from [run] for every
model; a model may set one only when `run.allow_overrides` lists it (the override is recorded in
the run). `stream` is not a sampling param: it changes how a response is received (and that
latency_first_ms gets measured), so it is kept out of `model_params` and read via `model_stream`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.common.conversation import PRODUCTION_OUTPUT
from core.errors import ConfigError

SHARED_PARAMS = ("temperature", "max_tokens", "top_p", "seed")
# The model id of answers production already gave (`ModelConfig.logged_key`).
LOGGED = "logged"
# Every key of [run] a model may override when allow_overrides lists it.
OVERRIDABLE = (*SHARED_PARAMS, "stream")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelConfig(_Section):
    """One candidate (or judge) model. Shared sampling params come from [run] unless allowed."""

    model: str = Field(min_length=1, description="litellm model id, e.g. openai/gpt-5")
    api_base: str | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    stream: bool | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="extra litellm params")
    timeout_s: float | None = Field(default=None, gt=0)
    max_concurrency: int | None = Field(default=None, gt=0)
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    input_price_per_1m: float | None = Field(default=None, ge=0)
    output_price_per_1m: float | None = Field(default=None, ge=0)

    @field_validator("params")
    @classmethod
    def _no_secrets_or_retries(cls, v: dict[str, Any]) -> dict[str, Any]:
        # Keys the runner owns (retries, timeouts, the request itself) or that would put a secret
        # into the stored config.
        reserved = ("api_key", "api_base", "num_retries", "max_retries", "messages", "model", "timeout",
                    "stream", "stream_options", *SHARED_PARAMS)
        for key in reserved:
            if key in v:
                raise ValueError(f"'{key}' cannot be set in params")
        return v

    @model_validator(mode="after")
    def _both_prices_or_none(self) -> "ModelConfig":
        if (self.input_price_per_1m is None) != (self.output_price_per_1m is None):
            raise ValueError("set both input_price_per_1m and output_price_per_1m, or neither")
        return self

    @property
    def logged_key(self) -> str | None:
        """For `model = "logged"` (or `"logged/KEY"`): the case metadata key holding the answer
        production gave (core.models.logged), which the model answers with, making no call. None
        for a model that is called."""
        if self.model == LOGGED:
            return PRODUCTION_OUTPUT
        if self.model.startswith(LOGGED + "/"):
            return self.model[len(LOGGED) + 1:] or PRODUCTION_OUTPUT
        return None


def _known_placeholders(v: str | None) -> str | None:
    from core.config.prompts import check_template

    if v is not None:
        check_template(v)
    return v


class PromptVariant(_Section):
    """A per-task-type variant; a key left unset inherits the prompt's own value."""

    system: str | None = None
    template: str | None = None

    _placeholders = field_validator("system", "template")(_known_placeholders)


class PromptConfig(_Section):
    """A prompt: system message + user template; `tasks.<task_type>` overrides per task type.

    Templates may use {input_text}, {id}, {task_type}, {difficulty} and {metadata.KEY}
    (nested: {metadata.a.b}); `{{` and `}}` are literal braces.
    """

    system: str | None = None
    template: str = "{input_text}"
    tasks: dict[str, PromptVariant] = Field(default_factory=dict)
    conversation: bool = Field(default=False, description=(
        "send a case's imported conversation (metadata.messages: the turns before its input) before "
        "the user message; the prompt's own system message, when set, replaces the conversation's"))

    _placeholders = field_validator("system", "template")(_known_placeholders)

    def variant(self, task_type: str) -> tuple[str | None, str]:
        """(system, template) for one task type."""
        v = self.tasks.get(task_type)
        if v is None:
            return self.system, self.template
        system = v.system if "system" in v.model_fields_set else self.system
        return system, v.template if v.template is not None else self.template


class RunConfig(_Section):
    """Defaults for `assay run` and the conditions every model of a run shares."""

    prompt: str = "default"
    concurrency: int = Field(default=8, gt=0)
    workers: Annotated[int, Field(gt=0, strict=True)] | Literal["auto"] = Field(
        default="auto", description="processes sending a run's requests: a number (1: this process), or auto: "
                                    "one per core for a run big enough to repay their litellm imports, else 1")
    retries: int = Field(default=4, ge=0)
    retry_after_cap_s: float = Field(default=60.0, ge=0)
    backoff_base_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=30.0, ge=0)
    breaker_threshold: int = Field(default=3, gt=0, description="auth/quota errors before a model's breaker opens")
    repeat: int = Field(default=1, gt=0)
    timeout_s: float = Field(default=60.0, gt=0)
    max_error_rate: float = Field(default=0.0, ge=0, le=1)
    temperature: float | None = Field(default=0.0, ge=0, le=2)
    max_tokens: int | None = Field(default=1024, gt=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    allow_overrides: list[Literal["temperature", "max_tokens", "top_p", "seed", "stream"]] = Field(
        default_factory=list)
    cache: bool = True
    stream: bool = Field(default=False, description="stream responses: measures latency_first_ms (time to first token)")


TaskKind = Literal["classification", "extraction", "free_text", "pass_fail", "rating"]


class TaskConfig(_Section):
    """How a task type is labeled (and which labels are valid for classification scoring)."""

    kind: TaskKind = "free_text"
    labels: list[str] = Field(default_factory=list)
    hints: dict[str, str] = Field(default_factory=dict)
    keys: dict[str, str] = Field(default_factory=dict, description="label -> single key (default 1-9)")
    fields: list[str] = Field(default_factory=list, description="extraction fields")
    guidelines: str | None = None
    guidelines_file: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _kind_from_labels(cls, data: Any) -> Any:
        """A task that lists `labels` (or `fields`) but names no `kind` is a classification (or
        extraction) task: falling back to free text would hand the annotator an editor where keys
        (or a field form) were meant. Both lists without a kind is ambiguous: a config error."""
        if not isinstance(data, dict) or "kind" in data:
            return data
        if data.get("labels") and data.get("fields"):
            raise ValueError("set 'kind': a task with both 'labels' and 'fields' could be classification or extraction")
        if data.get("labels"):
            return {**data, "kind": "classification"}
        if data.get("fields"):
            return {**data, "kind": "extraction"}
        return data

    @model_validator(mode="after")
    def _labels_for_classification(self) -> "TaskConfig":
        if self.kind == "classification" and not self.labels:
            raise ValueError("a classification task needs a non-empty 'labels' list")
        for label in list(self.hints) + list(self.keys):
            if label not in self.labels:
                raise ValueError(f"'{label}' is not one of labels {self.labels}")
        return self


class LabelingConfig(_Section):
    blind: bool = True
    required_labels: int = Field(default=1, ge=1, le=5)
    guidelines: str | None = None
    guidelines_file: str | None = None


class JudgeConfig(_Section):
    model: str | None = Field(default=None, description="name of a [models.*] entry")
    temperature: float = 0.0
    max_tokens: int = 512
    # When a judge counts as calibrated against the experts (core.labeling.calibration).
    min_kappa: float = Field(default=0.6, ge=-1, le=1, description="Cohen's kappa below this: uncalibrated")
    min_graded: int = Field(default=30, ge=1, description="fewer expert-graded outputs: uncalibrated")
    pass_rating: int = Field(default=4, ge=1, le=5, description="an expert rating (1-5) at or above this is a pass")


_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class WebhookConfig(_Section):
    """Where alerts are sent. The URL is a secret (a Slack webhook URL is its own credential), so
    the file names the environment variable holding it; logs and errors show only its host."""

    kind: Literal["slack", "json"]
    url_env: str = Field(pattern=_ENV_NAME, description="NAME of the variable holding the URL")
    secret_env: str | None = Field(default=None, pattern=_ENV_NAME,
                                   description="NAME of the variable holding the HMAC signing secret")
    timeout_s: float = Field(default=10.0, gt=0)


class AlertsConfig(_Section):
    """When a drop against the baseline is an alert, and where alerts go."""

    threshold_points: float = Field(default=3.0, gt=0, description="smallest drop (percentage points) that alerts")
    q: float = Field(default=0.05, gt=0, lt=1, description="Benjamini-Hochberg false discovery rate")
    min_matched: int = Field(default=30, ge=1, description="fewer matched cases is insufficient data")
    webhooks: dict[str, WebhookConfig] = Field(default_factory=dict)


class WorkspaceConfig(_Section):
    run: RunConfig = Field(default_factory=RunConfig)
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    prompts: dict[str, PromptConfig] = Field(default_factory=dict)
    tasks: dict[str, TaskConfig] = Field(default_factory=dict)
    scorers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    labeling: LabelingConfig = Field(default_factory=LabelingConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)

    def prompt(self, name: str | None = None) -> PromptConfig:
        name = name or self.run.prompt
        if name in self.prompts:
            return self.prompts[name]
        if name == "default":
            return DEFAULT_PROMPT
        raise ConfigError(f"unknown prompt '{name}' (configured: {', '.join(self.prompts) or 'none'})")

    def valid_labels(self, task_type: str) -> list[str]:
        task = self.tasks.get(task_type)
        return list(task.labels) if task else []


# The built-in neutral prompt: input_text is the user message, no system prompt.
DEFAULT_PROMPT = PromptConfig(system=None, template="{input_text}")


def format_validation_errors(exc: ValidationError) -> str:
    """Every error as `dotted.key: problem (got value)`, joined by "; "."""
    parts = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            parts.append(f"{key}: unknown key")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            got = err.get("input")
            if isinstance(got, dict):  # a whole section: the message already says what is wrong
                parts.append(f"{key}: {msg}")
            else:
                shown = repr(got)
                parts.append(f"{key}: {msg} (got {shown if len(shown) <= 60 else shown[:57] + '...'})")
    return "; ".join(parts)


def _check_cross_references(cfg: WorkspaceConfig, file: str) -> None:
    """Rules that span sections; each error names the offending key."""
    allowed = set(cfg.run.allow_overrides)
    for name, model in cfg.models.items():
        for param in OVERRIDABLE:
            if getattr(model, param) is not None and param not in allowed:
                raise ConfigError(
                    f"'{param}' is shared by every model of a run (set it in [run]); to let this model "
                    f"override it, add \"{param}\" to run.allow_overrides",
                    file=file, key=f"models.{name}.{param}",
                )
    if cfg.run.prompt != "default" and cfg.run.prompt not in cfg.prompts:
        raise ConfigError(f"no [prompts.{cfg.run.prompt}] section", file=file, key="run.prompt")
    if cfg.judge.model is not None and cfg.judge.model not in cfg.models:
        raise ConfigError(f"no [models.{cfg.judge.model}] section", file=file, key="judge.model")
    if cfg.judge.model is not None and cfg.models[cfg.judge.model].logged_key:
        raise ConfigError(f"[models.{cfg.judge.model}] answers with logged outputs and cannot judge",
                          file=file, key="judge.model")


def parse_config(data: dict[str, Any], *, file: str = "assay.toml") -> WorkspaceConfig:
    try:
        cfg = WorkspaceConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_errors(exc), file=file) from None
    _check_cross_references(cfg, file)
    return cfg


def model_params(model: ModelConfig, run: RunConfig) -> dict[str, Any]:
    """The sampling params one model is called with: [run]'s shared values, the model's allowed
    overrides, then its extra `params`. None values are left out (the provider's default)."""
    out: dict[str, Any] = {}
    for param in SHARED_PARAMS:
        value = getattr(model, param)
        if value is None or param not in run.allow_overrides:
            value = getattr(run, param)
        if value is not None:
            out[param] = value
    out.update(model.params)
    return out


def model_stream(model: ModelConfig, run: RunConfig) -> bool:
    """Whether this model's calls are streamed: [run] stream, or the model's own when allowed."""
    if model.stream is not None and "stream" in run.allow_overrides:
        return model.stream
    return run.stream


def model_overrides(model: ModelConfig, run: RunConfig) -> dict[str, Any]:
    """The shared params this model overrides (recorded in the run row)."""
    return {p: getattr(model, p) for p in run.allow_overrides if getattr(model, p) is not None}


def read_toml(path: Path) -> dict[str, Any] | None:
    """A TOML file's table, or None when the file does not exist. Errors name the file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8: {exc}", file=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", file=str(path)) from None


def load_config(path: Path) -> WorkspaceConfig:
    """Load assay.toml; a missing file means all defaults."""
    data = read_toml(path)
    return WorkspaceConfig() if data is None else parse_config(data, file=str(path))
