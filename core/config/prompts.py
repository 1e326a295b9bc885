"""Render chat messages for one case from a prompt config.

Placeholders: {input_text}, {id}, {task_type}, {difficulty} and {metadata.KEY} (nested with dots:
{metadata.customer.tier}). `{{` and `}}` are literal braces. Only these names resolve — never
attribute or index access, so a template cannot reach into Python objects. Non-string metadata
values are inserted as JSON. A placeholder whose value is missing (or null) is an error naming
the case and the placeholder: the runner renders every case before the first call, so a run never
starts on a prompt that cannot be filled.
"""

from __future__ import annotations

import json
import string
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from core.common.conversation import message_text, turns_before_input
from core.errors import ConfigError

if TYPE_CHECKING:
    from core.config.schema import PromptConfig

_TOP_LEVEL = ("input_text", "id", "task_type", "difficulty")
_FORMATTER = string.Formatter()


class PromptError(ConfigError):
    """A case cannot fill the prompt (missing placeholder value)."""


@lru_cache(maxsize=256)
def _compile(text: str) -> tuple[tuple[str, tuple[str, ...] | None], ...]:
    """The template as (literal, field path | None) parts. Raises ValueError on a bad template."""
    try:
        parsed = list(_FORMATTER.parse(text))
    except ValueError as exc:
        raise ValueError(f"bad braces in template ({exc}); write {{{{ and }}}} for literal braces") from None
    parts: list[tuple[str, tuple[str, ...] | None]] = []
    for literal, field, spec, conversion in parsed:
        if field is None:
            parts.append((literal, None))
            continue
        if conversion or spec:
            raise ValueError(f"'{{{field}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}': "
                             "conversions and format specs are not supported")
        path = tuple(field.split("."))
        if path[0] in _TOP_LEVEL and len(path) == 1:
            pass
        elif path[0] == "metadata" and len(path) > 1 and all(path[1:]):
            pass
        else:
            raise ValueError(f"unknown placeholder '{{{field}}}' (use {{input_text}}, {{id}}, {{task_type}}, "
                             "{difficulty} or {metadata.KEY})")
        parts.append((literal, path))
    return tuple(parts)


def check_template(text: str) -> None:
    """Raise ValueError naming the problem when a template has an unknown placeholder or bad braces."""
    _compile(text)


def _lookup(case: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = case
    for key in path:
        if not isinstance(value, dict) or value.get(key) is None:
            return None
        value = value[key]
    return value


def fill(text: str, case: dict[str, Any]) -> str:
    """Fill one template from a case dict (EvalCase shape)."""
    out: list[str] = []
    for literal, path in _compile(text):
        out.append(literal)
        if path is None:
            continue
        value = _lookup(case, path)
        if value is None:
            raise PromptError(
                f"case '{case.get('id')}' has no value for placeholder {{{'.'.join(path)}}}"
            )
        out.append(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    return "".join(out)


def render_messages(prompt: "PromptConfig", case: dict[str, Any]) -> list[dict[str, str]]:
    """System (when set and non-empty) + user message for one case, per its task type; with
    `prompt.conversation`, the case's imported turns before its input in between."""
    system, template = prompt.variant(case.get("task_type") or "generation")
    messages = []
    if system:
        messages.append({"role": "system", "content": fill(system, case)})
    if prompt.conversation:
        messages += [m for m in _turns(case) if not (system and m["role"] == "system")]
    messages.append({"role": "user", "content": fill(template, case)})
    return messages


_ROLES = ("system", "user", "assistant")


def _turns(case: dict[str, Any]) -> list[dict[str, str]]:
    """The case's imported conversation (`metadata.messages`, as `core.datasets.formats` keeps it)
    as plain chat messages. Raises PromptError naming the case for a turn that is not one."""
    turns = (case.get("metadata") or {}).get("messages") or []
    out = []
    for i, turn in enumerate(turns_before_input(turns) if isinstance(turns, list) else [turns]):
        content = message_text(turn.get("content")) if isinstance(turn, dict) else None
        if not isinstance(turn, dict) or turn.get("role") not in _ROLES or not isinstance(content, str):
            raise PromptError(f"case '{case.get('id')}': metadata.messages[{i}] is not a system, user or "
                              "assistant message with text content")
        out.append({"role": turn["role"], "content": content})
    return out
