"""Conversations as imported samples and chat records carry them (`metadata.messages`): a list
of {role, content} messages, content a string or a list of typed parts, kept up to and including
the case's input (its last user message), and in a tool-using chat the tool calls and results
that followed it before the final answer. Read by the importer, the prompts and the screens."""

from __future__ import annotations

import json
from typing import Any

# The metadata key of what production answered (`assay sample`): a model output, never ground
# truth, so the Label screen keeps it hidden with the other model outputs in blind mode, and a
# `logged` model (core.models.logged) answers with it.
PRODUCTION_OUTPUT = "production_output"


def logged_text(value: Any) -> str:
    """A logged production answer as an output's text: JSON for what is not a string (tool calls)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def message_text(content: Any) -> Any:
    """A message's text: inspect-ai and OpenAI content may be a list of parts, whose text parts make it up."""
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type", "text") == "text")
    return content


def _input_at(messages: list[Any]) -> int | None:
    """The index of the input: the last user message."""
    return next((i for i in range(len(messages) - 1, -1, -1)
                 if isinstance(messages[i], dict) and messages[i].get("role") == "user"), None)


def turns_before_input(messages: list[Any]) -> list[Any]:
    """An imported conversation (`metadata.messages`, kept whole up to the input) without the input:
    the turns before its last user message, which is the case's input_text."""
    at = _input_at(messages)
    return list(messages) if at is None else messages[:at]


def turns_after_input(messages: list[Any]) -> list[Any]:
    """The turns after the input (its last user message): in a tool-using chat, the assistant's tool
    calls and the tools' results that production's final answer drew on. A prompt does not send
    them (`core.config.prompts`); the screens show them."""
    at = _input_at(messages)
    return [] if at is None else messages[at + 1:]
