"""Strip secrets from text before it is stored, logged or printed.

Two layers: by value (every configured secret: the values of the environment variables that
`api_key_env` names) and by pattern (key-shaped tokens, bearer tokens, `api_key=...`), so a key
that was never configured — or a provider echoing a partly masked key — is caught too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from urllib.parse import quote

MASK = "[REDACTED]"
# Common provider key variables: litellm reads them itself when a model has no api_key_env, so
# their values are redacted too.
WELL_KNOWN_KEY_ENVS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GROQ_API_KEY",
                       "MISTRAL_API_KEY", "TOGETHER_API_KEY", "OPENROUTER_API_KEY", "AZURE_API_KEY",
                       "COHERE_API_KEY", "DEEPSEEK_API_KEY", "XAI_API_KEY", "FIREWORKS_API_KEY",
                       "AWS_SECRET_ACCESS_KEY", "HUGGINGFACE_API_KEY", "HF_TOKEN")
# Shorter values would redact ordinary words; a real API key is far longer.
_MIN_SECRET_LEN = 6

_PATTERNS = [
    # OpenAI/Anthropic-style keys (sk-..., sk-proj-..., sk-ant-...), incl. partly masked echoes.
    re.compile(r"\bsk-[A-Za-z0-9_\-*.]{6,}"),
    # Other common provider key shapes: Google (AIza...), Groq (gsk_...), xAI, HF tokens, AWS ids.
    re.compile(r"\b(?:AIza[0-9A-Za-z_\-]{20,}|gsk_[A-Za-z0-9]{20,}|xai-[A-Za-z0-9]{20,}|hf_[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16})"),
    re.compile(r"(?i)\bBearer\s+[A-Za-z0-9_\-.~+/=*]+"),
    # api_key=..., "api-key": "...", x-api-key: ..., Authorization: ...
    re.compile(r"""(?i)((?:x-)?api[_\-]?key|authorization|access[_\-]?token|secret)(["']?\s*[:=]\s*["']?)[^\s"',&}]+"""),
]


class Redactor:
    """Redacts the given secret values and every key-shaped token."""

    def __init__(self, secrets: Iterable[str] = ()):
        values: set[str] = set()
        for s in secrets:
            if s and len(s) >= _MIN_SECRET_LEN:
                values.update({s, quote(s, safe=""), s.strip()})
        # Longest first, so a secret containing another is masked whole.
        self._values = sorted((v for v in values if v), key=len, reverse=True)

    def __call__(self, text: str | None) -> str | None:
        if not text:
            return text
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        for i, pattern in enumerate(_PATTERNS):
            if i == len(_PATTERNS) - 1:
                text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
            else:
                text = pattern.sub(MASK, text)
        return text


def from_env(env_names: Iterable[str | None]) -> Redactor:
    """A redactor for the current values of the named environment variables and of
    WELL_KNOWN_KEY_ENVS (missing ones skipped)."""
    names = {name for name in env_names if name} | set(WELL_KNOWN_KEY_ENVS)
    return Redactor(os.environ.get(name) or "" for name in names)
