"""Translating promptfoo's pieces into Assay's: templates, providers, assertions.

Every function reports what it cannot translate to a `Problems` list (where, what) instead of
guessing; the importer refuses to import anything while that list is not empty, unless the user
passes --skip-unsupported.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scorers.assertions import ASSERTION_TYPES, SPEC_KEYS, parse_assertion, split_type
from scorers.base import ScorerConfigError
from scorers.normalize import parse_number


@dataclass
class Problems:
    """What could not be translated: (location, description, what --skip-unsupported drops)."""

    items: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, where: str, what: str, dropped: str) -> None:
        self.items.append((where, what, dropped))

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


# --- nunjucks: plain {{ var }} only ----------------------------------------------------------

_PLAIN = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_OTHER = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")


def template_problem(text: str) -> str | None:
    """Why a template uses nunjucks beyond plain `{{ var }}` (filters, tags, expressions), or None."""
    rest = _PLAIN.sub("", text)
    m = _OTHER.search(rest)
    if m is None:
        return None
    start = max(0, m.start() - 10)
    return f"nunjucks syntax other than {{{{ var }}}} is not supported: ...{rest[start:m.end() + 20]!r}"


def template_vars(text: str) -> list[str]:
    return list(dict.fromkeys(_PLAIN.findall(text)))


def var_text(value: Any) -> str:
    """How a var value appears in rendered text: strings as is, other values as JSON (so true ->
    "true", like JavaScript)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def render(text: str, variables: dict[str, Any]) -> str:
    """Substitute plain {{ var }} placeholders; an undefined var renders as "" (nunjucks' default)."""
    return _PLAIN.sub(lambda m: var_text(variables[m[1]]) if m[1] in variables else "", text)


# --- providers -----------------------------------------------------------------------------

# promptfoo provider prefix -> litellm provider, and the usual key variable when not local.
_PROVIDERS = {
    "openai": ("openai", "OPENAI_API_KEY"),
    "anthropic": ("anthropic", "ANTHROPIC_API_KEY"),
    "ollama": ("ollama", None),
    "groq": ("groq", "GROQ_API_KEY"),
    "mistral": ("mistral", "MISTRAL_API_KEY"),
    "openrouter": ("openrouter", "OPENROUTER_API_KEY"),
    "deepseek": ("deepseek", "DEEPSEEK_API_KEY"),
}
# The chat-style API names promptfoo puts between provider and model (openai:chat:X).
_CHAT_KINDS = {"openai": ("chat",), "anthropic": ("messages",), "ollama": ("chat",)}
_SHARED = ("temperature", "max_tokens", "top_p", "seed")
_PASSTHROUGH = ("stop", "presence_penalty", "frequency_penalty", "response_format", "logit_bias")
_NAME_OK = re.compile(r"[^A-Za-z0-9_.-]+")


def litellm_id(provider_id: str) -> tuple[str, str | None] | None:
    """("openai/gpt-4o", "OPENAI_API_KEY") for "openai:gpt-4o" / "openai:chat:gpt-4o"; None if unknown."""
    parts = provider_id.split(":")
    prefix = parts[0]
    if prefix not in _PROVIDERS or len(parts) < 2:
        return None
    rest = parts[1:]
    if len(rest) == 1 and rest[0] in _CHAT_KINDS.get(prefix, ()):
        return None  # "openai:chat" names an API, not a model
    if len(rest) > 1:
        if rest[0] not in _CHAT_KINDS.get(prefix, ()):
            return None
        rest = rest[1:]
    model = ":".join(rest)  # ollama tags (llama3:8b) keep their colon
    if not model:
        return None
    litellm_provider, key_env = _PROVIDERS[prefix]
    return f"{litellm_provider}/{model}", key_env


def model_name(label: str | None, model_id: str) -> str:
    """The [models.*] name: the provider's label, else the model part of the litellm id."""
    base = label or model_id.split("/", 1)[-1]
    return _NAME_OK.sub("-", base).strip("-") or "model"


def convert_provider(spec: Any, where: str, problems: Problems) -> tuple[str, dict[str, Any]] | None:
    """A promptfoo provider (string, {id, label, config} or {ID: {config}}) -> (name, [models.*] table)."""
    if isinstance(spec, dict) and len(spec) == 1 and "id" not in spec:
        (pid, body), = spec.items()
        spec = {"id": pid, **(body if isinstance(body, dict) else {})}
    if isinstance(spec, str):
        spec = {"id": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("id"), str):
        problems.add(where, "provider must be a string or a table with an 'id'", "this provider")
        return None
    pid = spec["id"]
    mapped = litellm_id(pid)
    if mapped is None:
        problems.add(where, f"provider {pid!r} has no litellm equivalent here "
                            "(supported: openai, anthropic, ollama, groq, mistral, openrouter, deepseek)", "this provider")
        return None
    unknown = sorted(set(spec) - {"id", "label", "config"})
    if unknown:
        problems.add(where, f"provider keys {', '.join(unknown)} are not supported", "this provider")
        return None
    model_id, key_env = mapped
    table: dict[str, Any] = {"model": model_id}
    config = spec.get("config") or {}
    params: dict[str, Any] = {}
    for key, value in config.items():
        if key == "apiBaseUrl":
            table["api_base"] = value
        elif key == "apiHost":
            table["api_base"] = value if "://" in str(value) else f"https://{value}/v1"
        elif key == "apiKeyEnvar":
            table["api_key_env"] = value
        elif key in _SHARED:
            table[key] = value
        elif key in _PASSTHROUGH:
            params[key] = value
        elif key == "apiKey":
            problems.add(f"{where}.config.apiKey", "API keys are never imported; use apiKeyEnvar (an environment "
                                                   "variable name) instead", "this provider")
            return None
        else:
            problems.add(f"{where}.config.{key}", f"provider option {key!r} is not supported", "this provider")
            return None
    if params:
        table["params"] = params
    if "api_key_env" not in table and "api_base" not in table and key_env:
        table["api_key_env"] = key_env
    return model_name(spec.get("label"), model_id), table


# --- assertions ----------------------------------------------------------------------------

# Assay's assertion keys except `tolerance`, which promptfoo has no assertion for.
_SPEC_KEYS = SPEC_KEYS - {"tolerance"}
_CODE_TYPES = {"python", "javascript", "webhook"}


def _load_value_file(ref: str, base: Path) -> Any:
    path = (base / ref.removeprefix("file://")).resolve()
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.loads(text)
    if path.suffix in (".yaml", ".yml"):
        import yaml

        return yaml.safe_load(text)
    raise ValueError("only .json/.yaml files can be loaded as assertion values")


def _render_value(value: Any, variables: dict[str, Any], where: str, problems: Problems) -> tuple[bool, Any]:
    if isinstance(value, str):
        problem = template_problem(value)
        if problem:
            problems.add(where, problem, "this assertion")
            return False, None
        return True, render(value, variables)
    if isinstance(value, list):
        out = []
        for i, item in enumerate(value):
            ok, item = _render_value(item, variables, f"{where}[{i}]", problems)
            if not ok:
                return False, None
            out.append(item)
        return True, out
    return True, value


def convert_assertion(spec: Any, variables: dict[str, Any], where: str, base: Path,
                      problems: Problems) -> dict[str, Any] | None:
    """A promptfoo assertion -> an Assay assertion spec (validated), or None (problem recorded).

    Code-running assertions (python, javascript, webhook) and file:// code are never imported:
    cases are data, and an assertion in a case must never name code to run."""
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        problems.add(where, "an assertion must be a table with a 'type'", "this assertion")
        return None
    kind = spec["type"]
    base_type, _ = split_type(kind)
    if base_type in _CODE_TYPES:
        problems.add(where, f"assertion type {kind!r} runs code; code is never imported into a dataset "
                            "(write a [scorers.*] python scorer instead)", "this assertion")
        return None
    if base_type not in ASSERTION_TYPES:
        problems.add(where, f"assertion type {kind!r} is not supported", "this assertion")
        return None
    extra = sorted(set(spec) - _SPEC_KEYS)
    if extra:
        problems.add(where, f"assertion keys {', '.join(extra)} are not supported", "this assertion")
        return None
    out = {k: spec[k] for k in ("type", "threshold", "weight", "metric") if k in spec}
    if "value" in spec:
        value = spec["value"]
        if isinstance(value, str) and value.startswith("file://"):
            if base_type not in ("is-json", "contains-json"):
                problems.add(where, f"file:// values are not supported for {kind}", "this assertion")
                return None
            try:
                value = _load_value_file(value, base)
            except (OSError, ValueError) as exc:
                problems.add(where, f"cannot load the schema {value}: {exc}", "this assertion")
                return None
        ok, value = _render_value(value, variables, f"{where}.value", problems)
        if not ok:
            return None
        out["value"] = value
    if base_type == "similar":
        problems.note("`similar` assertions are lexical in Assay (difflib ratio), not embedding similarity")
    try:
        parse_assertion(out, where)
    except ScorerConfigError as exc:
        problems.add(where, f"invalid assertion: {exc}", "this assertion")
        return None
    return out


# promptfoo's CSV `__expected` shorthand: "contains: foo", "not-icontains: bar", "similar(0.8): text",
# "grade: rubric" (= llm-rubric), "is-json"; anything without a known prefix is `equals`.
_CSV_PREFIX = re.compile(r"^(not-)?([a-z-]+)(?:\((\d+(?:\.\d+)?)\))?\s*:\s*(.*)$", re.DOTALL)
_CSV_BARE = ("is-json", "contains-json", "not-is-json", "not-contains-json")
_CSV_CODE = {"javascript": "javascript", "fn": "javascript", "eval": "javascript", "python": "python"}


def assertion_from_csv(text: str) -> dict[str, Any] | None:
    """A promptfoo-shaped assertion from CSV shorthand (validated later by convert_assertion)."""
    text = text.strip()
    if not text:
        return None
    if text.startswith("file://"):
        return {"type": "python" if text.endswith(".py") else "javascript", "value": text}
    if text in _CSV_BARE:
        return {"type": text}
    m = _CSV_PREFIX.match(text)
    if m and m[2] in _CSV_CODE:
        return {"type": _CSV_CODE[m[2]], "value": m[4]}
    if m and (m[2] == "grade" or m[2] in ASSERTION_TYPES):
        kind = "llm-rubric" if m[2] == "grade" else m[2]
        spec: dict[str, Any] = {"type": (m[1] or "") + kind}
        value = m[4].strip()
        if kind in ("contains-any", "contains-all", "icontains-any", "icontains-all"):
            spec["value"] = [v.strip() for v in value.split(",") if v.strip()]
        elif kind in ("latency", "cost"):
            number = parse_number(value)
            spec["threshold"] = value if number is None else number
        else:
            spec["value"] = value
        if m[3] is not None:
            spec["threshold"] = float(m[3])
        return spec
    return {"type": "equals", "value": text}
